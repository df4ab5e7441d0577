"""Peak memory of the Unifying model's panoptic submodule (dynamic potential
+ dense instance affinity applier, eq. (1)-(4)) against image size.

    python .dev_scripts/benchmark_affinity_memory.py \
        [--sizes 400x656 800x1312 1600x2624] [--dets 100] [--things 80] \
        [--stuff 53] [--channels 128] [--explicit-up-to 400x656] [--json F]

For every input size H x W the submodule works at 1/4 (d = 4): semantic
logits (things + stuff channels), D detections and the affinity features
Q (C channels) are made up front, then the memory *added* by

- ``inference``: potential head + phi0/phi1 projections + the right-to-left
  product, under ``torch.no_grad()`` (what test time costs);
- ``training``: the same forward plus backward to its inputs (autograd's
  saved tensors included);
- ``explicit``: the left-to-right product through the (HW/16)^2 affinity
  matrix, measured only up to ``--explicit-up-to`` (it grows quadratically;
  its theoretical size is always listed)

is measured in a fresh process each: the kernel's peak resident set size
(VmHWM, reset through /proc/self/clear_refs) minus the resident size
before the step, so it is exact up to the allocator's page granularity.
With ``--device cuda`` it is ``torch.cuda.max_memory_allocated`` instead.
The default D = 100 detections + 53 COCO stuff classes give the 153
channels of Psi of the paper's example; C = 128.
"""
import argparse
import json
import subprocess
import sys

import torch

MB = 1024**2


def parse_size(text: str):
    height, width = (int(v) for v in text.lower().split('x'))
    return height, width


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--sizes', nargs='+', type=parse_size,
        default=[(400, 656), (800, 1312), (1600, 2624)],
        help='input sizes HxW (the submodule runs at 1/4)')
    parser.add_argument('--dets', type=int, default=100)
    parser.add_argument('--things', type=int, default=80)
    parser.add_argument('--stuff', type=int, default=53)
    parser.add_argument('--channels', type=int, default=128, help='C of Q')
    parser.add_argument('--explicit-up-to', type=parse_size,
                        default=(400, 656),
                        help='largest input size for the explicit form')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--json', help='also write the table as JSON')
    parser.add_argument('--worker', nargs=3, metavar=('MODE', 'H', 'W'),
                        help=argparse.SUPPRESS)
    return parser.parse_args()


def _status_bytes(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f'{key} not in /proc/self/status')


def _reset_peak(device: str) -> int:
    """Reset the peak counter; returns the memory in use now."""
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # resets VmHWM to the current VmRSS
    return _status_bytes('VmRSS')


def _peak(device: str) -> int:
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()
    return _status_bytes('VmHWM')


def worker(mode: str, height: int, width: int, args) -> dict:
    """Runs in its own process: builds the inputs, measures one step."""
    from mmengine.structures import InstanceData

    from mmpanoptic.models.unifying import (DenseAffinityHead,
                                            DynamicPotentialHead)
    from mmpanoptic.models.unifying.dense_affinity import \
        propagate_dense_affinity_explicit
    torch.set_num_threads(1)
    torch.manual_seed(0)
    device, stride = args.device, 4
    map_h, map_w = -(-height // stride), -(-width // stride)
    potential_head = DynamicPotentialHead(
        num_things_classes=args.things, num_stuff_classes=args.stuff,
        variant='C')
    affinity_head = DenseAffinityHead(
        affinity_channels=args.channels,
        decoder=dict(type='UPSNetSemanticHead', in_channels=16,
                     feat_channels=16, out_channels=16, num_convs=1,
                     deformable=False)).to(device)
    num_classes = args.things + args.stuff
    training = mode == 'training'
    semantic_logits = torch.randn(
        num_classes, map_h, map_w, device=device, requires_grad=training)
    affinity_feats = torch.randn(
        args.channels, map_h, map_w, device=device, requires_grad=training)
    corners = torch.rand(args.dets, 2, 2, device=device) * torch.tensor(
        [width, height], device=device, dtype=torch.float32)
    boxes = torch.cat([corners.min(1).values, corners.max(1).values], 1)
    mask_probs = torch.rand(args.dets, 28, 28, device=device,
                            requires_grad=training)
    detections = InstanceData(
        bboxes=boxes,
        scores=torch.rand(args.dets, device=device),
        labels=torch.randint(0, args.things, (args.dets, ), device=device),
        mask_probs=mask_probs)

    base = _reset_peak(device)
    if mode == 'explicit':
        with torch.no_grad():
            potential = potential_head(semantic_logits, detections, stride)
            queries, keys = affinity_head.project(affinity_feats)
            logits = propagate_dense_affinity_explicit(
                potential, queries, keys)
    else:
        with torch.set_grad_enabled(training):
            potential = potential_head(semantic_logits, detections, stride)
            logits = affinity_head.propagate(potential, affinity_feats)
            if training:
                logits.square().mean().backward()
    added = _peak(device) - base
    return dict(
        mode=mode,
        input=f'{height}x{width}',
        map=f'{map_h}x{map_w}',
        pixels=map_h * map_w,
        psi_channels=int(logits.shape[0]),
        added_mb=added / MB,
        psi_mb=logits.numel() * logits.element_size() / MB,
        explicit_affinity_gb=(map_h * map_w)**2 * 4 / 1024**3)


def run_worker(mode: str, height: int, width: int) -> dict:
    cmd = [sys.executable, __file__, '--worker', mode, str(height),
           str(width)] + [a for a in sys.argv[1:]]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    args = parse_args()
    if args.worker:
        mode, height, width = args.worker
        print(json.dumps(worker(mode, int(height), int(width), args)))
        return
    rows = []
    print(f'Panoptic submodule, {args.dets} detections + {args.stuff} stuff '
          f'= {args.dets + args.stuff} channels of Psi, C = {args.channels}, '
          f'd = 4, device {args.device}\n')
    print('| input | map (1/4) | HW/16 | Psi (MB) | inference added (MB) | '
          'MB per 10k px | training added (MB) | explicit A (GB, theory) | '
          'explicit form added (MB) |')
    print('|---|---|---|---|---|---|---|---|---|')
    for height, width in args.sizes:
        inference = run_worker('inference', height, width)
        training = run_worker('training', height, width)
        explicit = None
        if height * width <= args.explicit_up_to[0] * args.explicit_up_to[1]:
            explicit = run_worker('explicit', height, width)
        rows.extend(r for r in (inference, training, explicit) if r)
        per_10k = inference['added_mb'] / inference['pixels'] * 1e4
        explicit_text = f"{explicit['added_mb']:.0f}" if explicit else \
            'not run'
        print(f"| {inference['input']} | {inference['map']} | "
              f"{inference['pixels']} | {inference['psi_mb']:.1f} | "
              f"{inference['added_mb']:.1f} | {per_10k:.2f} | "
              f"{training['added_mb']:.1f} | "
              f"{inference['explicit_affinity_gb']:.2f} | {explicit_text} |")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=2)


if __name__ == '__main__':
    main()
