"""Time the fused upsample-and-decide kernels against their F.interpolate
references, side by side in one process.

    python .dev_scripts/benchmark_resample.py [--repeats 5] \
        [--warmup 1] [--threads 2] [--inputs smooth random]

Cases (the post-processing of the dense methods at their benchmark sizes):

- ``argmax``: 153 channels (100 detections + 53 COCO stuff classes) at
  stride 4 of an 800x1216 input, argmax after bilinear upsampling to
  800x1216 (Unifying's argmax of P);
- ``argmax-sem``: 133 channels (COCO semantic logits), same geometry;
- ``threshold``: 100 masks at stride 4 of a 512x768 input, > 0.4 after
  upsampling (Panoptic FCN-512's thing masks).

``smooth`` inputs are random maps at 1/8 of the map size upsampled
bilinearly (neighbouring cells agree, as a trained model's maps do);
``random`` inputs are i.i.d. per cell (every cell is a boundary: the
kernels' worst case). For each case and input it prints the median time of
``mmpanoptic.ops.upsample_argmax`` / ``upsample_threshold`` with
``implementation='compiled'`` and ``'pytorch'`` (the reference), their
ratio, and the fraction of output pixels on which the two agree.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from mmpanoptic.ops.resample import (compiled_resample_available,
                                     upsample_argmax, upsample_threshold)

CASES = {
    # name: (channels, input size, stride, decision)
    'argmax': (153, (800, 1216), 4, 'argmax'),
    'argmax-sem': (133, (800, 1216), 4, 'argmax'),
    'threshold': (100, (512, 768), 4, 'threshold'),
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cases', nargs='+', default=list(CASES),
                        choices=list(CASES))
    parser.add_argument('--inputs', nargs='+', default=['smooth', 'random'],
                        choices=['smooth', 'random'])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: torch decides)')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def make_maps(channels: int, map_size, kind: str,
              gen: torch.Generator) -> torch.Tensor:
    """(channels, h, w) float32 maps, ``smooth`` or i.i.d. ``random``."""
    height, width = map_size
    if kind == 'random':
        return torch.randn(channels, height, width, generator=gen)
    coarse = torch.randn(channels, max(height // 8, 1), max(width // 8, 1),
                         generator=gen)
    return F.interpolate(
        coarse[None], size=(height, width), mode='bilinear',
        align_corners=False)[0].contiguous()


def alternating_medians(fns, repeats: int, warmup: int):
    """Median time of each function, run in turn so that machine drift
    hits all alike."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, fn_times in zip(fns, times):
            start = time.perf_counter()
            fn()
            fn_times.append(time.perf_counter() - start)
    return [statistics.median(fn_times) for fn_times in times]


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not compiled_resample_available(torch.device('cpu')):
        raise SystemExit('mmpanoptic.ops._resample_ext is not built: run '
                         '`make install` (or `python setup.py build_ext '
                         '--inplace`) first')
    gen = torch.Generator().manual_seed(args.seed)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, '
          f'median of {args.repeats} after {args.warmup} warm-up')
    print(f'{"case":<11} {"input":<7} {"maps":>17} {"out":>10} '
          f'{"compiled (s)":>12} {"pytorch (s)":>11} {"ratio":>6} '
          f'{"agree %":>8}')
    for name in args.cases:
        channels, (height, width), stride, decision = CASES[name]
        map_size = (height // stride, width // stride)
        for kind in args.inputs:
            maps = make_maps(channels, map_size, kind, gen)
            if decision == 'argmax':
                def run(impl, maps=maps, height=height, width=width,
                        stride=stride):
                    return upsample_argmax(maps, (height, width),
                                           (height, width), stride,
                                           implementation=impl)
            else:
                maps = maps.sigmoid()

                def run(impl, maps=maps, height=height, width=width,
                        stride=stride):
                    return upsample_threshold(maps, (height, width),
                                              (height, width), stride, 0.4,
                                              implementation=impl)
            compiled, reference = alternating_medians(
                [lambda: run('compiled'), lambda: run('pytorch')],
                args.repeats, args.warmup)
            agree = (run('compiled') == run('pytorch')).float().mean()
            print(f'{name:<11} {kind:<7} '
                  f'{f"{channels}x{map_size[0]}x{map_size[1]}":>17} '
                  f'{f"{height}x{width}":>10} {compiled:>12.3f} '
                  f'{reference:>11.3f} {compiled / reference:>6.2f} '
                  f'{100 * float(agree):>8.4f}')


if __name__ == '__main__':
    main()
