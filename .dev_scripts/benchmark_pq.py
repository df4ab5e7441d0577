"""Time ``PanopticMetric`` against panopticapi on the same predictions.

For each image size, writes COCO-panoptic-like ground truth (tens of
segments per image: stuff regions, things, crowd, VOID borders) and
predictions (the GT shifted, relabelled, split, with extra segments), then
in one run, alternating:

* panopticapi: ``pq_compute_single_core`` over the files (``pq_compute``
  without its process pool, which is slower than one process on few cores);
  it decodes the GT and prediction PNGs;
* ``PanopticMetric``: ``process`` on in-memory data samples (the prediction
  as the model returns it, instance ids 1, 2, ... as mmdet's fusion heads
  number them) + ``compute_metrics``; it decodes the GT PNG only.

It checks that every per-class TP/FP/FN is equal and every PQ/SQ/RQ agrees to
1e-12, and prints both times per image, the ratio and, for reference, the
time to decode one GT PNG with cv2 (the floor of any file-based evaluation
is decoding two).

Example::

    python .dev_scripts/benchmark_pq.py --images 40 8 --repeat 3
"""
import argparse
import contextlib
import io
import json
import os
import os.path as osp
import pickle
import statistics
import tempfile
import time

import cv2
import numpy as np
import torch
from panopticapi.evaluation import pq_compute_single_core

from mmpanoptic.evaluation import INSTANCE_OFFSET, PanopticMetric
from mmpanoptic.utils import id2rgb

NUM_THINGS, NUM_STUFF = 80, 53  # COCO panoptic
NUM_CLASSES = NUM_THINGS + NUM_STUFF
CATEGORIES = [
    dict(id=i + 1, name=f'class{i}', isthing=int(i < NUM_THINGS))
    for i in range(NUM_CLASSES)
]
META = dict(
    classes=tuple(c['name'] for c in CATEGORIES),
    thing_classes=tuple(c['name'] for c in CATEGORIES[:NUM_THINGS]),
    stuff_classes=tuple(c['name'] for c in CATEGORIES[NUM_THINGS:]))


def make_image(rng, height, width, num_stuff=8, num_things=28):
    """GT id map (0 = VOID), segments_info, and an mmdet prediction."""
    # stuff: Voronoi cells of a few seeds (smooth borders, like real data)
    ys, xs = np.mgrid[0:height, 0:width]
    seeds = rng.uniform([0, 0], [height, width], size=(num_stuff, 2))
    dist = ((ys[None] - seeds[:, 0, None, None])**2 +
            (xs[None] - seeds[:, 1, None, None])**2)
    segment = np.argmin(dist, axis=0).astype(np.int64)  # 0..num_stuff-1
    labels = list(rng.integers(NUM_THINGS, NUM_CLASSES, num_stuff))
    crowd = [False] * num_stuff
    # things: ellipses of many sizes on top, a few crowd
    for k in range(num_things):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry = rng.uniform(0.02, 0.15) * height
        rx = rng.uniform(0.02, 0.15) * width
        segment[((ys - cy) / ry)**2 + ((xs - cx) / rx)**2 < 1] = len(labels)
        labels.append(int(rng.integers(0, NUM_THINGS)))
        crowd.append(bool(rng.random() < 0.05))
    # VOID on borders between segments (dilated), as in COCO
    edges = np.zeros((height, width), np.uint8)
    edges[:, 1:] |= (segment[:, 1:] != segment[:, :-1]).astype(np.uint8)
    edges[1:, :] |= (segment[1:, :] != segment[:-1, :]).astype(np.uint8)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8)).astype(bool)
    ids = rng.choice(256**3 - 1, size=len(labels), replace=False) + 1
    gt = np.where(edges, 0, ids[segment])
    segments_info, present = [], np.unique(gt)
    for k, segment_id in enumerate(ids):
        if segment_id not in present:
            continue
        segments_info.append(
            dict(
                id=int(segment_id),
                category_id=int(labels[k]) + 1,
                iscrowd=int(crowd[k]),
                area=int((gt == segment_id).sum()),
                bbox=[0, 0, 1, 1]))
    # prediction: shifted GT, some relabelled, split or dropped, extras
    shift = tuple(int(v) for v in rng.integers(-4, 5, size=2))
    shifted = np.roll(segment, shift, axis=(0, 1))
    pred = np.full((height, width), NUM_CLASSES, np.int64)
    for k in range(len(labels)):
        if rng.random() < 0.1:
            continue
        label = labels[k] if rng.random() < 0.85 else int(
            rng.integers(0, NUM_CLASSES))
        pred[shifted == k] = label + (k + 1) * INSTANCE_OFFSET
    for k in range(len(labels), len(labels) + 4):  # sequential ids, as mmdet
        y0, x0 = rng.integers(0, height // 2), rng.integers(0, width // 2)
        pred[y0:y0 + height // 6, x0:x0 + width // 6] = \
            int(rng.integers(0, NUM_THINGS)) + (k + 1) * INSTANCE_OFFSET
    return gt, segments_info, pred


def write_dataset(root, rng, num_images, height, width):
    """Files for panopticapi and in-memory samples for PanopticMetric."""
    gt_dir, pred_dir = osp.join(root, 'gt'), osp.join(root, 'pred')
    os.makedirs(gt_dir)
    os.makedirs(pred_dir)
    gt_anns, pred_anns, samples = [], [], []
    for image_id in range(num_images):
        gt, segments_info, pred = make_image(rng, height, width)
        name = f'{image_id:06d}.png'
        cv2.imwrite(osp.join(gt_dir, name), id2rgb(gt)[..., ::-1])
        gt_anns.append(
            dict(
                image_id=image_id, file_name=name,
                segments_info=segments_info))
        values = np.unique(pred)
        pred_ids = np.zeros(len(values), np.int64)
        pred_segments = []
        for j, value in enumerate(values):
            if value % INSTANCE_OFFSET == NUM_CLASSES:
                continue
            pred_ids[j] = len(pred_segments) + 1
            pred_segments.append(
                dict(
                    id=int(pred_ids[j]),
                    category_id=int(value % INSTANCE_OFFSET) + 1))
        cv2.imwrite(
            osp.join(pred_dir, name),
            id2rgb(pred_ids[np.searchsorted(values, pred)])[..., ::-1])
        pred_anns.append(
            dict(
                image_id=image_id, file_name=name,
                segments_info=pred_segments))
        samples.append(
            dict(
                img_id=image_id,
                pred_panoptic_seg=dict(sem_seg=torch.from_numpy(pred[None]))))
    gt_json = osp.join(root, 'gt.json')
    with open(gt_json, 'w') as f:
        json.dump(dict(annotations=gt_anns, categories=CATEGORIES), f)
    num_segments = np.mean([len(a['segments_info']) for a in gt_anns])
    pairs = list(zip(gt_anns, pred_anns))
    return gt_json, gt_dir, pred_dir, pairs, samples, num_segments


def run_panopticapi(pairs, gt_dir, pred_dir):
    categories = {c['id']: c for c in CATEGORIES}
    with contextlib.redirect_stdout(io.StringIO()):
        stat = pq_compute_single_core(0, pairs, gt_dir, pred_dir, categories)
    return stat, categories


def run_ours(gt_json, gt_dir, samples, classwise=False):
    """Metrics, and the bytes per image kept until the end (pickled, as
    they travel between ranks)."""
    metric = PanopticMetric(
        ann_file=gt_json, seg_prefix=gt_dir, classwise=classwise)
    metric.dataset_meta = META
    for sample in samples:
        metric.process({}, [sample])
    retained = len(pickle.dumps(metric.results)) / len(samples)
    with contextlib.redirect_stdout(io.StringIO()):
        return metric.compute_metrics(metric.results), retained


def check_equal(stat, categories, ours):
    """Every per-class TP/FP/FN equal, every average to 1e-12."""
    for c in CATEGORIES:
        s = stat[c['id']]
        got = tuple(ours[f'{c["name"]}_{k}'] for k in ('TP', 'FP', 'FN'))
        if got != (s.tp, s.fp, s.fn):
            return f'{c["name"]}: ours {got} vs panopticapi ' \
                   f'{(s.tp, s.fp, s.fn)}'
    for group, isthing, suffix in (('All', None, ''), ('Things', True, '_th'),
                                   ('Stuff', False, '_st')):
        reference = stat.pq_average(categories, isthing)[0]
        for key in ('pq', 'sq', 'rq'):
            a, b = ours[key.upper() + suffix], 100 * reference[key]
            if abs(a - b) > 1e-12 * max(1.0, abs(b)):
                return f'{group} {key}: ours {a!r} vs panopticapi {b!r}'
    return None


def decode_time(gt_dir, pairs):
    start = time.perf_counter()
    for gt_ann, _ in pairs:
        cv2.imread(osp.join(gt_dir, gt_ann['file_name']), cv2.IMREAD_UNCHANGED)
    return (time.perf_counter() - start) / len(pairs)


def memory_check(num_images, rng, height=128, width=128, distinct=20):
    """Python-heap memory (tracemalloc, numpy included) held by the metric
    while it evaluates ``num_images`` images (``distinct`` GT images
    cycled), at a few checkpoints."""
    import tracemalloc
    with tempfile.TemporaryDirectory() as root:
        gt_json, gt_dir, _, _, samples, _ = write_dataset(
            root, rng, distinct, height, width)
        metric = PanopticMetric(ann_file=gt_json, seg_prefix=gt_dir)
        metric.dataset_meta = META
        metric.process({}, samples[:1])  # allocate the lookup table first
        metric.results.clear()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        held = {}
        for index in range(num_images):
            metric.process({}, [samples[index % distinct]])
            if (index + 1) in (num_images // 5, num_images):
                held[index + 1] = tracemalloc.get_traced_memory()[0] - base
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        with contextlib.redirect_stdout(io.StringIO()):
            metric.compute_metrics(metric.results)
    return held, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--images',
        type=int,
        nargs=2,
        default=[40, 8],
        help='images at 640x480 and at 1024x2048')
    parser.add_argument(
        '--repeat',
        type=int,
        default=3,
        help='alternating timed runs; the median is shown')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--memory-images',
        type=int,
        default=5000,
        help='images (128x128) for the memory check; 0: skip')
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    rows, failures = [], []
    for (height, width), num_images in zip(((480, 640), (1024, 2048)),
                                           args.images):
        with tempfile.TemporaryDirectory() as root:
            gt_json, gt_dir, pred_dir, pairs, samples, num_segments = \
                write_dataset(root, rng, num_images, height, width)
            # warm-up: file cache, lookup table
            run_panopticapi(pairs[:1], gt_dir, pred_dir)
            run_ours(gt_json, gt_dir, samples[:1])
            times = dict(ref=[], ours=[])
            for _ in range(args.repeat):
                start = time.perf_counter()
                stat, categories = run_panopticapi(pairs, gt_dir, pred_dir)
                times['ref'].append(time.perf_counter() - start)
                start = time.perf_counter()
                run_ours(gt_json, gt_dir, samples)
                times['ours'].append(time.perf_counter() - start)
            # per-class TP/FP/FN come with classwise=True (a 133-row table
            # printed once per dataset: left out of the timed runs)
            ours, retained = run_ours(gt_json, gt_dir, samples, classwise=True)
            problem = check_equal(stat, categories, ours)
            if problem:
                failures.append(f'{width}x{height}: {problem}')
            ref = statistics.median(times['ref']) / num_images * 1e3
            mine = statistics.median(times['ours']) / num_images * 1e3
            rows.append((f'{width}x{height}', num_images, num_segments, ref,
                         mine, ref / mine, decode_time(gt_dir, pairs) * 1e3,
                         retained, 'yes' if not problem else 'NO'))
    print(f'PanopticMetric (in memory) vs panopticapi pq_compute_single_core '
          f'(files), median of {args.repeat} alternating runs, 1 thread')
    header = ('size', 'images', 'segments/img', 'panopticapi ms/img',
              'ours ms/img', 'speed-up', 'GT decode ms/img', 'ours kept B/img',
              'equal')
    print(' | '.join(header))
    for row in rows:
        print(f'{row[0]} | {row[1]} | {row[2]:.1f} | {row[3]:.2f} | '
              f'{row[4]:.2f} | {row[5]:.1f}x | {row[6]:.2f} | {row[7]:.0f} | '
              f'{row[8]}')
    if args.memory_images:
        held, peak = memory_check(args.memory_images, rng)
        checkpoints = ', '.join(
            f'{n} images {m / 2**20:.2f} MiB ({m / n:.0f} B/img)'
            for n, m in held.items())
        print(f'Memory held by PanopticMetric (tracemalloc): {checkpoints}; '
              f'peak {peak / 2**20:.2f} MiB (+ the fixed 16 MiB id lookup '
              f'table)')
    for failure in failures:
        print('MISMATCH', failure)
    if failures:
        raise SystemExit(1)


if __name__ == '__main__':
    main()
