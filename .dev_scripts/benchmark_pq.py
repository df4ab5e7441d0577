"""Time panoptic evaluators on the same data: panopticapi, hotcoco and
mmpanoptic (``PanopticMetric`` in memory, ``eval_panoptic`` on files).

For each image size, writes COCO-panoptic-like ground truth (tens of
segments per image: stuff regions, things, crowd, VOID borders) and
predictions (the GT shifted, relabelled, split, with extra segments), then
in one run, alternating, one process, one thread:

* panopticapi: ``pq_compute_single_core`` over the files (``pq_compute``
  without its process pool); decodes the GT and the prediction PNG;
* hotcoco: ``pq_compute`` over the files (Rust; decodes both PNGs; its
  threads follow ``RAYON_NUM_THREADS``, 1 unless set);
* ``PanopticMetric``: ``process`` on in-memory data samples (the prediction
  as the model returns it, instance ids 1, 2, ... as mmdet's fusion heads
  number them) + ``compute_metrics``; reads the GT PNG only;
* ``eval_panoptic``: ``tools/analysis_tools/eval_panoptic.py``'s
  evaluation (``pq_stat_files``, one process) over the files.

With ``--command-images N`` it also times the two commands for files on
disk end to end (start-up, JSON reading, the PNGs, the result), as a user
runs them, on one folder of N images of the first size:
``tools/analysis_tools/eval_panoptic.py --nproc P`` against
``python -c "hotcoco.panoptic.pq_compute(...)"`` with
``RAYON_NUM_THREADS=P``, for every P of ``--command-nproc``, alternating.

It checks that all agree (every per-class TP/FP/FN equal to panopticapi's,
every PQ/SQ/RQ, averages and per class, to 1e-12; hotcoco's per-class
values of classes never seen are -1 where panopticapi has 0, so only seen
classes are compared there) and prints the times per
image, the ratios to hotcoco (below 1: faster than hotcoco) and to
panopticapi, and the bytes the metric keeps per image.

Example::

    RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1 python .dev_scripts/benchmark_pq.py \
        --sizes 640x480 2048x1024 --images 40 8 --repeat 5 \
        --command-images 1000 --command-nproc 1 2
"""
import os

# one thread for every implementation (before numpy, torch, hotcoco load)
for _variable in ('RAYON_NUM_THREADS', 'OMP_NUM_THREADS'):
    os.environ.setdefault(_variable, '1')

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os.path as osp  # noqa: E402
import pickle  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from hotcoco.panoptic import pq_compute as hotcoco_pq_compute  # noqa: E402
from panopticapi.evaluation import pq_compute_single_core  # noqa: E402
from PIL import Image  # noqa: E402

from mmpanoptic.evaluation import INSTANCE_OFFSET, PanopticMetric  # noqa
from mmpanoptic.evaluation.functional.panoptic_files import (  # noqa: E402
    pq_results, pq_stat_files)
from mmpanoptic.utils import id2rgb  # noqa: E402

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


def write_png(path, ids, writer):
    """A COCO panoptic PNG, written as OpenCV (libpng, Sub filters) or as
    the COCO converters do with PIL (Up/Paeth filters)."""
    if writer == 'pil':
        Image.fromarray(id2rgb(ids)).save(path)
    else:
        cv2.imwrite(path, id2rgb(ids)[..., ::-1])


def write_dataset(root, rng, num_images, height, width, writer='cv2'):
    """Files for panopticapi, hotcoco and eval_panoptic, and in-memory
    samples for PanopticMetric."""
    gt_dir, pred_dir = osp.join(root, 'gt'), osp.join(root, 'pred')
    os.makedirs(gt_dir)
    os.makedirs(pred_dir)
    gt_anns, pred_anns, samples = [], [], []
    for image_id in range(num_images):
        gt, segments_info, pred = make_image(rng, height, width)
        name = f'{image_id:06d}.png'
        write_png(osp.join(gt_dir, name), gt, writer)
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
        write_png(
            osp.join(pred_dir, name), pred_ids[np.searchsorted(values, pred)],
            writer)
        pred_anns.append(
            dict(
                image_id=image_id, file_name=name,
                segments_info=pred_segments))
        samples.append(
            dict(
                img_id=image_id,
                pred_panoptic_seg=dict(sem_seg=torch.from_numpy(pred[None]))))
    gt_json, pred_json = osp.join(root, 'gt.json'), osp.join(root, 'pred.json')
    with open(gt_json, 'w') as f:
        json.dump(
            dict(
                images=[
                    dict(id=a['image_id'], file_name=a['file_name'],
                         height=height, width=width) for a in gt_anns
                ],
                annotations=gt_anns,
                categories=CATEGORIES), f)
    with open(pred_json, 'w') as f:
        json.dump(dict(annotations=pred_anns), f)
    num_segments = np.mean([len(a['segments_info']) for a in gt_anns])
    return dict(
        gt_json=gt_json,
        pred_json=pred_json,
        gt_dir=gt_dir,
        pred_dir=pred_dir,
        pairs=list(zip(gt_anns, pred_anns)),
        samples=samples,
        num_segments=num_segments)


def run_panopticapi(data):
    categories = {c['id']: c for c in CATEGORIES}
    with contextlib.redirect_stdout(io.StringIO()):
        stat = pq_compute_single_core(0, data['pairs'], data['gt_dir'],
                                      data['pred_dir'], categories)
    return stat


def run_hotcoco(data):
    with contextlib.redirect_stdout(io.StringIO()):
        return hotcoco_pq_compute(data['gt_json'], data['pred_json'],
                                  data['gt_dir'], data['pred_dir'])


def run_metric(data, classwise=False):
    """Metrics, and the bytes per image kept until the end (pickled, as
    they travel between ranks)."""
    metric = PanopticMetric(
        ann_file=data['gt_json'], seg_prefix=data['gt_dir'],
        classwise=classwise)
    metric.dataset_meta = META
    for sample in data['samples']:
        metric.process({}, [sample])
    retained = len(pickle.dumps(metric.results)) / len(data['samples'])
    with contextlib.redirect_stdout(io.StringIO()):
        return metric.compute_metrics(metric.results), retained


def run_eval_panoptic(data):
    return pq_stat_files(data['gt_json'], data['pred_json'], data['gt_dir'],
                         data['pred_dir'])


def _close(a, b):
    return abs(a - b) <= 1e-12 * max(1.0, abs(b))


def disagreements(stat, hotcoco, metric, files):
    """What differs from panopticapi (empty: all agree)."""
    categories = {c['id']: c for c in CATEGORIES}
    problems = []
    file_results = pq_results(files)
    for label, c in enumerate(CATEGORIES):
        s = stat[c['id']]
        reference = (s.tp, s.fp, s.fn)
        got = dict(
            PanopticMetric=tuple(metric[f'{c["name"]}_{k}']
                                 for k in ('TP', 'FP', 'FN')),
            eval_panoptic=(files.tp[label], files.fp[label], files.fn[label]),
            hotcoco=tuple(hotcoco['per_class'][c['id']][k]
                          for k in ('tp', 'fp', 'fn')))
        for name, counts in got.items():
            if tuple(int(v) for v in counts) != reference:
                problems.append(f'{name} {c["name"]} TP/FP/FN {counts} vs '
                                f'panopticapi {reference}')
    _, per_class = stat.pq_average(categories, None)
    for c in CATEGORIES:
        s = stat[c['id']]
        for key in ('pq', 'sq', 'rq'):
            reference = per_class[c['id']][key]
            values = [
                ('PanopticMetric', metric[f'{c["name"]}_{key.upper()}'] / 100),
                ('eval_panoptic', file_results['per_class'][c['id']][key])
            ]
            if s.tp + s.fp + s.fn:  # hotcoco gives -1 for unseen classes
                values.append(('hotcoco', hotcoco['per_class'][c['id']][key]))
            for name, value in values:
                if not _close(value, reference):
                    problems.append(f'{name} {c["name"]} {key} {value!r} vs '
                                    f'panopticapi {reference!r}')
    for group, isthing, suffix in (('All', None, ''), ('Things', True, '_th'),
                                   ('Stuff', False, '_st')):
        reference = stat.pq_average(categories, isthing)[0]
        for key in ('pq', 'sq', 'rq'):
            candidates = (
                ('PanopticMetric', metric[key.upper() + suffix] / 100),
                ('eval_panoptic', file_results[group][key]),
                ('hotcoco', hotcoco[group][key]))
            for name, value in candidates:
                if not _close(value, reference[key]):
                    problems.append(f'{name} {group} {key} {value!r} vs '
                                    f'panopticapi {reference[key]!r}')
    return problems


def memory_check(num_images, rng, height=128, width=128, distinct=20):
    """Python-heap memory (tracemalloc, numpy included) held by the metric
    while it evaluates ``num_images`` images (``distinct`` GT images
    cycled), at a few checkpoints."""
    import tracemalloc
    with tempfile.TemporaryDirectory() as root:
        data = write_dataset(root, rng, distinct, height, width)
        samples = data['samples']
        metric = PanopticMetric(ann_file=data['gt_json'],
                                seg_prefix=data['gt_dir'])
        metric.dataset_meta = META
        metric.process({}, samples[:1])
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


REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
HOTCOCO_COMMAND = (
    'import json, sys\n'
    'from hotcoco.panoptic import pq_compute\n'
    'result = pq_compute(*sys.argv[1:5])\n'
    'json.dump(result, open(sys.argv[5], "w"))\n')


def command_lines(data, nproc, out_dir):
    """The eval_panoptic and hotcoco command lines (and their
    environments) for the same folder and number of processes."""
    files = [data['gt_json'], data['pred_json'], data['gt_dir'],
             data['pred_dir']]
    eval_panoptic = [
        sys.executable,
        osp.join(REPO_ROOT, 'tools/analysis_tools/eval_panoptic.py'),
        *files[:2], '--gt-dir', files[2], '--pred-dir', files[3], '--nproc',
        str(nproc), '--no-progress', '--out',
        osp.join(out_dir, 'eval_panoptic.json')
    ]
    hotcoco = [
        sys.executable, '-c', HOTCOCO_COMMAND, *files,
        osp.join(out_dir, 'hotcoco.json')
    ]
    env = dict(os.environ, RAYON_NUM_THREADS=str(nproc),
               PYTHONPATH=REPO_ROOT)
    return dict(eval_panoptic=eval_panoptic, hotcoco=hotcoco), env


def time_commands(data, nprocs, repeat, out_dir):
    """Seconds (median of ``repeat`` alternating runs) of each command
    per process count, and whether their All/Things/Stuff PQ, SQ, RQ
    agree."""
    rows = []
    for nproc in nprocs:
        commands, env = command_lines(data, nproc, out_dir)
        times = {name: [] for name in commands}
        for run in range(repeat + 1):  # the first run warms the file cache
            order = list(commands.items())
            if run % 2:
                order.reverse()
            for name, command in order:
                start = time.perf_counter()
                subprocess.run(
                    command, env=env, check=True, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
                if run:
                    times[name].append(time.perf_counter() - start)
        with open(osp.join(out_dir, 'eval_panoptic.json')) as f:
            ours = json.load(f)
        with open(osp.join(out_dir, 'hotcoco.json')) as f:
            theirs = json.load(f)
        agree = all(
            _close(ours[group][key], theirs[group][key])
            for group in ('All', 'Things', 'Stuff')
            for key in ('pq', 'sq', 'rq'))
        rows.append((nproc, {n: statistics.median(t)
                             for n, t in times.items()}, agree))
    return rows


def parse_size(text):
    width, height = (int(v) for v in text.lower().split('x'))
    return width, height


IMPLEMENTATIONS = dict(
    panopticapi=run_panopticapi,
    hotcoco=run_hotcoco,
    PanopticMetric=run_metric,
    eval_panoptic=run_eval_panoptic)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--sizes',
        type=parse_size,
        nargs='+',
        default=[(640, 480), (2048, 1024)],
        help='image sizes, WIDTHxHEIGHT')
    parser.add_argument(
        '--images',
        type=int,
        nargs='+',
        default=[40, 8],
        help='images per size')
    parser.add_argument(
        '--repeat',
        type=int,
        default=5,
        help='alternating timed runs; the median is shown')
    parser.add_argument(
        '--png-writer',
        choices=('cv2', 'pil'),
        default='cv2',
        help='how the PNGs are written: OpenCV (Sub filters) or PIL (as the '
        'COCO panoptic converters; Up/Paeth filters)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--command-images',
        type=int,
        default=0,
        help='images (of the first size) for timing the eval_panoptic.py '
        'and hotcoco commands end to end; 0: skip')
    parser.add_argument(
        '--command-nproc',
        type=int,
        nargs='+',
        default=[1],
        help='process counts for the command timing (eval_panoptic.py '
        '--nproc, hotcoco RAYON_NUM_THREADS)')
    parser.add_argument(
        '--memory-images',
        type=int,
        default=5000,
        help='images (128x128) for the memory check; 0: skip')
    args = parser.parse_args(argv)
    if len(args.images) != len(args.sizes):
        parser.error('give one --images count per size')
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    rows, failures = [], []
    for (width, height), num_images in zip(args.sizes, args.images):
        with tempfile.TemporaryDirectory() as root:
            data = write_dataset(root, rng, num_images, height, width,
                                 args.png_writer)
            warm = dict(data, pairs=data['pairs'][:1],
                        samples=data['samples'][:1])
            for run in IMPLEMENTATIONS.values():  # file cache, first calls
                run(warm if run in (run_panopticapi, run_metric) else data)
            times = {name: [] for name in IMPLEMENTATIONS}
            for repeat in range(args.repeat):
                order = list(IMPLEMENTATIONS.items())
                if repeat % 2:
                    order.reverse()
                for name, run in order:
                    start = time.perf_counter()
                    run(data)
                    times[name].append(time.perf_counter() - start)
            # per-class TP/FP/FN of the metric come with classwise=True
            # (a 133-row table, left out of the timed runs)
            metric, retained = run_metric(data, classwise=True)
            problems = disagreements(
                run_panopticapi(data), run_hotcoco(data), metric,
                run_eval_panoptic(data))
            failures += [f'{width}x{height}: {p}' for p in problems[:10]]
            ms = {
                name: statistics.median(values) / num_images * 1e3
                for name, values in times.items()
            }
            rows.append((f'{width}x{height}', num_images,
                         data['num_segments'], ms, retained,
                         'yes' if not problems else 'NO'))
    print(f'Per-image time, median of {args.repeat} alternating runs, one '
          f'process; RAYON_NUM_THREADS={os.environ["RAYON_NUM_THREADS"]} '
          f'OMP_NUM_THREADS={os.environ["OMP_NUM_THREADS"]}; PNGs written '
          f'by {args.png_writer}')
    header = ('size', 'images', 'segments/img', 'panopticapi ms',
              'hotcoco ms', 'PanopticMetric ms', 'eval_panoptic ms',
              'PanopticMetric/hotcoco', 'eval_panoptic/hotcoco',
              'PanopticMetric vs panopticapi', 'kept B/img', 'all agree')
    print(' | '.join(header))
    for size, images, segments, ms, retained, agree in rows:
        print(f'{size} | {images} | {segments:.1f} | '
              f'{ms["panopticapi"]:.2f} | {ms["hotcoco"]:.2f} | '
              f'{ms["PanopticMetric"]:.2f} | {ms["eval_panoptic"]:.2f} | '
              f'{ms["PanopticMetric"] / ms["hotcoco"]:.2f} | '
              f'{ms["eval_panoptic"] / ms["hotcoco"]:.2f} | '
              f'{ms["panopticapi"] / ms["PanopticMetric"]:.1f}x faster | '
              f'{retained:.0f} | {agree}')
    if args.command_images:
        width, height = args.sizes[0]
        with tempfile.TemporaryDirectory() as root:
            data = write_dataset(root, rng, args.command_images, height,
                                 width, args.png_writer)
            command_rows = time_commands(data, args.command_nproc,
                                         args.repeat, root)
        print(f'Commands end to end on {args.command_images} images of '
              f'{width}x{height}, median of {args.repeat} alternating runs')
        print('processes | eval_panoptic.py s | hotcoco pq_compute s | '
              'eval_panoptic/hotcoco | PQ/SQ/RQ agree')
        for nproc, seconds, agree in command_rows:
            print(f'{nproc} | {seconds["eval_panoptic"]:.2f} | '
                  f'{seconds["hotcoco"]:.2f} | '
                  f'{seconds["eval_panoptic"] / seconds["hotcoco"]:.2f} | '
                  f'{"yes" if agree else "NO"}')
            if not agree:
                failures.append(f'commands, {nproc} processes: PQ differ')
    if args.memory_images:
        held, peak = memory_check(args.memory_images, rng)
        checkpoints = ', '.join(
            f'{n} images {m / 2**20:.2f} MiB ({m / n:.0f} B/img)'
            for n, m in held.items())
        print(f'Memory held by PanopticMetric (tracemalloc): {checkpoints}; '
              f'peak {peak / 2**20:.2f} MiB')
    for failure in failures:
        print('MISMATCH', failure)
    if failures:
        raise SystemExit(1)


if __name__ == '__main__':
    main()
