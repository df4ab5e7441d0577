"""Test (and evaluate) a panoptic segmentation model (mmdet-style).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out x.pkl]
        [--show-dir DIR] [--tta] [--cfg-options k=v ...] [--launcher pytorch]

CONFIG is a config file or the name of an mmpanoptic config.
"""
import argparse
import os

from mmdet.engine.hooks.utils import trigger_visualization_hook
from mmdet.evaluation import DumpDetResults
from mmdet.utils import setup_cache_size_limit_of_dynamo
from mmengine.config import DictAction
from mmengine.runner import Runner

from mmpanoptic.registry import RUNNERS
from mmpanoptic.utils import register_all_modules
from mmpanoptic.utils.config_path import load_run_config
from mmpanoptic.utils.tta import use_tta


def parse_args():
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a panoptic model')
    parser.add_argument('config', help='test config file path or name')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the directory to save the evaluation metrics')
    parser.add_argument(
        '--out', type=str,
        help='dump predictions to a pickle file for offline evaluation')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory (under work_dir/timestamp) to save painted images')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation with the config\'s tta_model and '
        'tta_pipeline (UPSNet-M: semantic logits averaged over scales and '
        'flips)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    setup_cache_size_limit_of_dynamo()

    cfg = load_run_config(args.config, args.cfg_options, args.launcher,
                          args.work_dir)
    cfg.load_from = args.checkpoint
    if args.tta:
        cfg = use_tta(cfg)

    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)

    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl file, got {args.out}')
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out))
    runner.test()


if __name__ == '__main__':
    main()
