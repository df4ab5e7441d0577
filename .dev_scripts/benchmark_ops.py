"""Time RoIUpsample forward+backward against mmcv RoIAlign forward+backward.

Both ops see the same RoIs, channels, feature map and RoI output size
(RoIAlign: map -> (N, C, m, m); RoIUpsample: (N, C, m, m) -> map), are run
alternately in one process and reported side by side as a ratio (median of
``--repeats`` timed runs after warm-up).

The reference is mmcv's RoIAlign where mmcv has compiled ops for the
device, else torchvision's ``roi_align(aligned=True)`` (the same kernel
geometry; e.g. on a GPU machine without the OpenMMLab stack, see
.dev_scripts/run_cuda_op_tests.py).

Example::

    python .dev_scripts/benchmark_ops.py --num-rois 100 1000 \
        --channels 256 --roi-size 14 --map-size 200 304 --spatial-scale 0.25
"""
import argparse
import statistics
import time

import torch

from mmpanoptic.ops.roi_upsample import (RoIUpsample, mmcv_kernel_available,
                                         resolve_implementation)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-rois', type=int, nargs='+', default=[100, 1000])
    parser.add_argument('--channels', type=int, default=256)
    parser.add_argument('--roi-size', type=int, default=14,
                        help='m: RoIAlign output / RoIUpsample input size')
    parser.add_argument('--map-size', type=int, nargs=2, default=[200, 304],
                        help='feature map H W (800x1216 at stride 4)')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--spatial-scale', type=float, default=0.25)
    parser.add_argument('--min-roi', type=float, default=16.,
                        help='smallest RoI side in image pixels')
    parser.add_argument('--max-roi', type=float, default=224.,
                        help='largest RoI side in image pixels (RoIs the '
                        'FPN assigns to stride 4 are < 112 px)')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads (default: unchanged)')
    parser.add_argument('--with-pytorch', action='store_true',
                        help='also time the pure-PyTorch reference path')
    return parser.parse_args(argv)


def random_rois(num, batch, img_h, img_w, min_size, max_size, gen):
    size = torch.rand(num, 2, generator=gen) * (max_size - min_size) + \
        min_size
    x1 = torch.rand(num, generator=gen) * (img_w - size[:, 0]).clamp(min=0)
    y1 = torch.rand(num, generator=gen) * (img_h - size[:, 1]).clamp(min=0)
    b = torch.randint(0, batch, (num, ), generator=gen).float()
    return torch.stack([b, x1, y1, x1 + size[:, 0], y1 + size[:, 1]], 1)


def reference_roi_align(device, roi_size, spatial_scale):
    """(name, callable(feature_map, rois)) of RoIAlign(aligned=True, avg,
    sampling_ratio 2): mmcv's kernels where they run on ``device``, else
    torchvision's."""
    if mmcv_kernel_available(device):
        from mmcv.ops import RoIAlign
        return 'mmcv RoIAlign', RoIAlign(
            roi_size, spatial_scale, sampling_ratio=2, pool_mode='avg',
            aligned=True)
    try:
        from torchvision.ops import roi_align
    except ImportError as error:
        raise RuntimeError(
            f'no RoIAlign to compare with on {device}: mmcv has no compiled '
            'ops for it and torchvision is not installed') from error
    return 'torchvision roi_align', lambda x, rois: roi_align(
        x, rois, roi_size, spatial_scale, 2, aligned=True)


def time_it(fn, device, repeats, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    height, width = args.map_size
    img_h, img_w = height / args.spatial_scale, width / args.spatial_scale
    m, channels = args.roi_size, args.channels
    reference, roi_align = reference_roi_align(device, (m, m),
                                               args.spatial_scale)
    implementation = resolve_implementation('auto', device)
    print(f'device={device} threads={torch.get_num_threads()} '
          f'map=({args.batch_size}, {channels}, {height}, {width}) m={m} '
          f'scale={args.spatial_scale} RoI sides {args.min_roi}-'
          f'{args.max_roi} px, median of {args.repeats}; RoIAlign: '
          f'{reference}; RoIUpsample: {implementation!r} kernels')
    header = (f'{"RoIs":>6} {"RoIAlign f+b (ms)":>18} '
              f'{"RoIUpsample f+b (ms)":>21} {"ratio":>6}')
    if args.with_pytorch:
        header += f' {"RoIUpsample[pytorch] (ms)":>26} {"ratio":>6}'
    print(header)
    upsample = RoIUpsample(args.spatial_scale, sampling_ratio=2)
    upsample_pt = RoIUpsample(args.spatial_scale, sampling_ratio=2,
                              implementation='pytorch')
    for num in args.num_rois:
        rois = random_rois(num, args.batch_size, img_h, img_w, args.min_roi,
                           args.max_roi, gen).to(device)
        feat_map = torch.randn(args.batch_size, channels, height, width,
                               generator=gen).to(device).requires_grad_()
        roi_feats = torch.randn(num, channels, m, m,
                                generator=gen).to(device).requires_grad_()
        grad_roi = torch.randn(num, channels, m, m, generator=gen).to(device)
        grad_map = torch.randn(args.batch_size, channels, height, width,
                               generator=gen).to(device)

        def run_align():
            feat_map.grad = None
            roi_align(feat_map, rois).backward(grad_roi)

        def run_upsample(layer=upsample):
            roi_feats.grad = None
            layer(roi_feats, rois,
                  (args.batch_size, height, width)).backward(grad_map)

        t_align = time_it(run_align, device, args.repeats, args.warmup)
        t_up = time_it(run_upsample, device, args.repeats, args.warmup)
        line = (f'{num:>6} {t_align * 1e3:>18.1f} {t_up * 1e3:>21.1f} '
                f'{t_up / t_align:>6.2f}')
        if args.with_pytorch:
            t_pt = time_it(lambda: run_upsample(upsample_pt), device,
                           args.repeats, args.warmup)
            line += f' {t_pt * 1e3:>26.1f} {t_pt / t_align:>6.2f}'
        print(line)


if __name__ == '__main__':
    main()
