"""Where a checkpoint loses its thing segments, on the config's test split.

    python tools/analysis_tools/analyze_thing_errors.py CONFIG CHECKPOINT
        [--cut-off S] [--size-edges 32 96] [--work-dir DIR]
        [--cfg-options k=v ...]

Runs the test loop of ``tools/test.py`` with :class:`ThingErrorMetric` in
place of the config's evaluator (same annotation file and PNG folder) and
prints, after the PQ tables, every thing false negative sorted by cause:

- no detection: no detection of its class with box IoU >= 0.5 among the
  model's ``pred_instances`` (after the detector's score threshold and NMS);
- below the cut-off: detected, but below the score the panoptic output
  needs (``--cut-off``);
- lost: detected above the cut-off, yet its segment did not match (the
  fusion or argmax gave its pixels away, split it, or the mask is poor);
- missed: the model returns no ``pred_instances`` to tell (mmdet's Panoptic
  FPN, Panoptic FCN);

with the recall per size bucket, and the false positive thing segments by
size. The cut-off defaults to the config's ``model.test_cfg.panoptic.
score_thr`` (UPSNet and Unifying: the detections the panoptic step takes),
else ``model.test_cfg.rcnn.score_thr``, else none (every returned detection
counts).

Example (the synthetic Unifying model; sizes for its 12-55 px objects)::

    python tools/analysis_tools/analyze_thing_errors.py \\
        configs/unifying/unifying_r18_fpn_1xb4-800i_synthetic.py \\
        work_dirs/unifying_r18_fpn_1xb4-800i_synthetic/iter_800.pth \\
        --size-edges 16 24 32 48
"""
import argparse
from typing import Optional

from mmengine.config import Config
from mmengine.runner import Runner

from mmpanoptic.utils import register_all_modules
from mmpanoptic.utils.config_path import (add_checkpoint_run_args,
                                          add_size_edges_arg,
                                          load_run_config)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Thing false negatives by cause, false positives by '
        'size')
    add_checkpoint_run_args(parser)
    parser.add_argument(
        '--cut-off',
        type=float,
        default=None,
        help='detection score needed to enter the panoptic output '
        '(default: from the config)')
    add_size_edges_arg(parser)
    return parser.parse_args()


def config_cut_off(cfg: Config) -> Optional[float]:
    """The panoptic cut-off a config's model applies to its detections
    (None when the config names none: every returned detection counts)."""
    test_cfg = cfg.model.get('test_cfg') or {}
    for section in ('panoptic', 'rcnn'):
        value = (test_cfg.get(section) or {}).get('score_thr')
        if value is not None:
            return float(value)
    return None


def thing_error_evaluator(cfg: Config, cut_off: Optional[float],
                          size_edges) -> dict:
    """The config's test evaluator as a ``ThingErrorMetric``."""
    evaluator = cfg.test_evaluator
    if isinstance(evaluator, (list, tuple)):
        evaluator = evaluator[0]
    if evaluator.get('type') not in ('PanopticMetric',
                                     'mmpanoptic.PanopticMetric',
                                     'ThingErrorMetric'):
        raise ValueError(
            f'{cfg.filename}: test_evaluator is {evaluator.get("type")!r}, '
            'not a PanopticMetric (its annotation file and PNG folder are '
            'needed)')
    keep = ('ann_file', 'seg_prefix', 'backend_args')
    return dict(
        type='ThingErrorMetric',
        cut_off=cut_off,
        size_edges=list(size_edges),
        **{key: evaluator[key]
           for key in keep if key in evaluator})


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_run_config(args.config, args.cfg_options, 'none',
                          args.work_dir)
    cfg.load_from = args.checkpoint
    cut_off = args.cut_off if args.cut_off is not None else \
        config_cut_off(cfg)
    cfg.test_evaluator = thing_error_evaluator(cfg, cut_off, args.size_edges)
    Runner.from_cfg(cfg).test()


if __name__ == '__main__':
    main()
