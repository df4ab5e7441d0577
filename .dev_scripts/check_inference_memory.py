"""Run many predictions on random-size inputs in one process; check that
resident memory stays flat.

    python .dev_scripts/check_inference_memory.py CONFIG \
        [--checkpoint CKPT] [--num 2000] [--min-size 64] [--max-size 320] \
        [--tolerance-mb 64]

Prints the resident set size (RSS) every ``--num / 20`` predictions, then the
growth from the end of the warm-up (first 10%: allocator pools fill up for
the sizes seen) to the end. Exits with status 1 if it exceeds
``--tolerance-mb``: a leak of even 100 KB per prediction shows as 180 MB
over 2,000 predictions.
"""
import argparse
import gc
import os
import time

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config, DictAction
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules
from mmpanoptic.utils.config_path import find_config


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file path or name')
    parser.add_argument('--checkpoint', help='weights (default: random)')
    parser.add_argument('--num', type=int, default=2000)
    parser.add_argument('--min-size', type=int, default=64)
    parser.add_argument('--max-size', type=int, default=320)
    parser.add_argument('--tolerance-mb', type=float, default=64)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def main():
    args = parse_args()
    register_all_modules()
    cfg = Config.fromfile(find_config(args.config))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    with DefaultScope.overwrite_default_scope('mmpanoptic'):
        model = MODELS.build(cfg.model)
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    rng = np.random.default_rng(args.seed)
    report_every = max(args.num // 20, 1)
    warmup = max(args.num // 10, 1)
    baseline = None
    start = time.perf_counter()
    things = 0
    print(f'{"predictions":>11} {"RSS MB":>8} {"s":>7}')
    for index in range(1, args.num + 1):
        height, width = rng.integers(args.min_size, args.max_size + 1, 2)
        image = torch.from_numpy(
            rng.integers(0, 256, (3, height, width), dtype=np.uint8))
        sample = DetDataSample(
            metainfo=dict(
                img_id=index,
                img_path=f'{index}.png',
                ori_shape=(int(height), int(width)),
                img_shape=(int(height), int(width)),
                scale_factor=(1.0, 1.0)))
        with torch.no_grad():
            result = model.test_step(dict(inputs=[image],
                                          data_samples=[sample]))[0]
        things += int(
            (result.pred_panoptic_seg.sem_seg.unique() >= 1000).sum())
        del result
        if index == warmup:
            gc.collect()
            baseline = rss_mb()
        if index % report_every == 0:
            print(f'{index:>11} {rss_mb():>8.1f} '
                  f'{time.perf_counter() - start:>7.1f}')
    gc.collect()
    growth = rss_mb() - baseline
    print(f'RSS growth after warm-up ({warmup} predictions): {growth:+.1f} MB '
          f'over {args.num - warmup} predictions '
          f'({1024 * growth / (args.num - warmup):+.1f} KB per prediction); '
          f'{things} thing segments predicted in all')
    if growth > args.tolerance_mb:
        print(f'FAIL: memory grew by more than {args.tolerance_mb} MB')
        raise SystemExit(1)
    print('OK: memory stays flat')


if __name__ == '__main__':
    main()
