"""The command-line arguments the analysis tools share
(mmpanoptic/utils/config_path.py)."""
import argparse

import pytest

from mmpanoptic.utils.config_path import (add_checkpoint_run_args,
                                          add_size_edges_arg)


def tool_parser():
    parser = argparse.ArgumentParser()
    add_checkpoint_run_args(parser)
    add_size_edges_arg(parser)
    return parser


def test_defaults_are_coco_sizes_and_no_overrides():
    args = tool_parser().parse_args(['cfg.py', 'model.pth'])
    assert (args.config, args.checkpoint) == ('cfg.py', 'model.pth')
    assert args.work_dir is None and args.cfg_options is None
    assert args.size_edges == [32.0, 96.0]


def test_given_values_are_parsed():
    args = tool_parser().parse_args([
        'cfg.py', 'model.pth', '--size-edges', '16', '24.5', '--work-dir',
        'out', '--cfg-options', 'model.test_cfg.mask_thr=0.5'
    ])
    assert args.size_edges == [16.0, 24.5]
    assert args.work_dir == 'out'
    assert args.cfg_options == {'model.test_cfg.mask_thr': 0.5}


def test_a_checkpoint_is_required():
    with pytest.raises(SystemExit):
        tool_parser().parse_args(['cfg.py'])
