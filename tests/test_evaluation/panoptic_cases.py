"""Random COCO-panoptic ground truth and predictions for exactness tests,
and panopticapi as the reference on the same data written to files."""
import contextlib
import io
import json
import os
import os.path as osp
import struct
import zlib
from typing import List, Tuple

import cv2
import numpy as np
from panopticapi.evaluation import PQStat, pq_compute_single_core

from mmpanoptic.evaluation import INSTANCE_OFFSET
from mmpanoptic.utils import id2rgb

# things first (as the dataset classes), non-contiguous category ids
CATEGORIES = [
    dict(id=3, name='t0', isthing=1),
    dict(id=17, name='t1', isthing=1),
    dict(id=5, name='t2', isthing=1),
    dict(id=40, name='t3', isthing=1),
    dict(id=8, name='s0', isthing=0),
    dict(id=91, name='s1', isthing=0),
    dict(id=23, name='s2', isthing=0),
    dict(id=60, name='s3', isthing=0),
]
NUM_THINGS = 4
NUM_CLASSES = len(CATEGORIES)
METAINFO = dict(
    classes=tuple(c['name'] for c in CATEGORIES),
    thing_classes=tuple(c['name'] for c in CATEGORIES[:NUM_THINGS]),
    stuff_classes=tuple(c['name'] for c in CATEGORIES[NUM_THINGS:]))


def _paint_rect(canvas, value, rng, min_size=2):
    h, w = canvas.shape
    y0, x0 = rng.integers(0, h - 1), rng.integers(0, w - 1)
    y1 = min(h, y0 + rng.integers(min_size, max(min_size + 1, h // 2 + 1)))
    x1 = min(w, x0 + rng.integers(min_size, max(min_size + 1, w // 2 + 1)))
    canvas[y0:y1, x0:x1] = value


def random_ground_truth(rng: np.random.Generator,
                        height: int,
                        width: int,
                        empty: bool = False):
    """One GT image: a (H, W) id map (0 = VOID) and its segments_info.

    Stuff regions, overlapping things, crowd segments (several per class
    at times), VOID, ids in the PNG but not the JSON, JSON segments with no
    pixels, and JSON areas that differ from the pixel counts.
    """
    labels = np.full((height, width), -1, np.int64)  # index into segments
    segments = []  # (label, iscrowd)

    def new_segment(label, crowd=False):
        segments.append((label, crowd))
        return len(segments) - 1

    if not empty:
        for _ in range(rng.integers(1, 4)):  # stuff
            label = int(rng.integers(NUM_THINGS, NUM_CLASSES))
            _paint_rect(labels, new_segment(label), rng, min_size=height // 3)
        for _ in range(rng.integers(0, 7)):  # things, some crowd
            label = int(rng.integers(0, NUM_THINGS))
            crowd = rng.random() < 0.2
            _paint_rect(labels, new_segment(label, crowd), rng)
        for _ in range(rng.integers(0, 3)):  # VOID
            _paint_rect(labels, -1, rng)
    ids = rng.choice(256**3 - 2, size=len(segments) + 2, replace=False) + 1
    id_map = np.where(labels >= 0, ids[np.maximum(labels, 0)], 0)
    if rng.random() < 0.2:  # an id the JSON does not know
        _paint_rect(id_map, int(ids[-1]), rng)
    segments_info = []
    for k, (label, crowd) in enumerate(segments):
        area = int((id_map == ids[k]).sum())
        if area == 0 and rng.random() < 0.5:
            continue  # fully occluded: usually dropped, sometimes kept
        if area > 8 and rng.random() < 0.15:  # area from JSON, not PNG
            area += int(rng.integers(-area // 8, area // 8 + 1))
        segments_info.append(
            dict(
                id=int(ids[k]),
                category_id=CATEGORIES[label]['id'],
                iscrowd=int(crowd),
                area=area,
                bbox=[0, 0, 1, 1]))
    if rng.random() < 0.05:  # a JSON segment without pixels
        segments_info.append(
            dict(
                id=int(ids[-2]),
                category_id=CATEGORIES[0]['id'],
                iscrowd=0,
                area=5,
                bbox=[0, 0, 1, 1]))
    order = rng.permutation(len(segments_info))
    return id_map, [segments_info[i] for i in order]


def random_prediction(
    rng: np.random.Generator,
    gt_id_map: np.ndarray,
    segments_info: List[dict],
    empty: bool = False,
    present_labels: Tuple[int, ...] = ()
) -> np.ndarray:
    """A (H, W) mmdet prediction (label + instance * 1000, VOID =
    NUM_CLASSES) made by perturbing the GT: shifts, relabelling, splits,
    drops, pasted segments (on crowd and VOID too) and extra classes."""
    height, width = gt_id_map.shape
    pred = np.full((height, width), NUM_CLASSES, np.int64)
    if empty:
        return pred
    cat_to_label = {c['id']: i for i, c in enumerate(CATEGORIES)}
    shift = rng.integers(-2, 3, size=2) if rng.random() < 0.5 else (0, 0)
    shifted = np.roll(gt_id_map, tuple(shift), axis=(0, 1))
    next_instance = 1
    for segment in segments_info:
        mask = shifted == segment['id']
        if not mask.any() or rng.random() < 0.1:
            continue
        label = cat_to_label[segment['category_id']]
        if rng.random() < 0.15:
            label = int(rng.integers(0, NUM_CLASSES))
        value = label + next_instance * INSTANCE_OFFSET
        next_instance += 1
        pred[mask] = value
        if rng.random() < 0.25:  # split along a column
            cut = int(rng.integers(0, width))
            pred[mask & (np.arange(width) >= cut)] = \
                label + next_instance * INSTANCE_OFFSET
            next_instance += 1
    for _ in range(rng.integers(0, 4)):  # pasted segments
        label = int(rng.choice(present_labels)) if present_labels and \
            rng.random() < 0.5 else int(rng.integers(0, NUM_CLASSES))
        instance = next_instance if rng.random() < 0.8 else 0
        next_instance += 1
        _paint_rect(pred, label + instance * INSTANCE_OFFSET, rng)
    if rng.random() < 0.3:
        _paint_rect(pred, NUM_CLASSES, rng)  # VOID
    if rng.random() < 0.1:
        _paint_rect(pred, 0, rng)  # label 0, instance 0: a segment, not VOID
    return pred


def write_case(root: str, name: str, images: list) -> Tuple[str, str]:
    """Write GT and predictions as COCO panoptic files.

    Args:
        images (list): ``(image_id, gt_id_map, segments_info, pred)``.

    Returns:
        (gt_json, pred_json) paths; PNG folders next to them.
    """
    gt_dir, pred_dir = osp.join(root,
                                f'{name}_gt'), osp.join(root, f'{name}_pred')
    os.makedirs(gt_dir)
    os.makedirs(pred_dir)
    gt_anns, pred_anns, image_infos = [], [], []
    for image_id, gt_id_map, segments_info, pred in images:
        file_name = f'{image_id:06d}.png'
        cv2.imwrite(
            osp.join(gt_dir, file_name),
            id2rgb(gt_id_map)[..., ::-1])
        gt_anns.append(
            dict(
                image_id=image_id,
                file_name=file_name,
                segments_info=segments_info))
        image_infos.append(
            dict(
                id=image_id,
                file_name=file_name,
                height=gt_id_map.shape[0],
                width=gt_id_map.shape[1]))
        values = np.unique(pred)
        pred_segments, pred_ids = [], np.zeros(len(values), np.int64)
        for j, value in enumerate(values):
            label = value % INSTANCE_OFFSET
            if label == NUM_CLASSES:
                continue
            pred_ids[j] = len(pred_segments) + 1
            pred_segments.append(
                dict(id=int(pred_ids[j]), category_id=CATEGORIES[label]['id']))
        pred_png = pred_ids[np.searchsorted(values, pred)]
        cv2.imwrite(
            osp.join(pred_dir, file_name),
            id2rgb(pred_png)[..., ::-1])
        pred_anns.append(
            dict(
                image_id=image_id,
                file_name=file_name,
                segments_info=pred_segments))
    gt_json, pred_json = gt_dir + '.json', pred_dir + '.json'
    with open(gt_json, 'w') as f:
        json.dump(
            dict(
                images=image_infos, annotations=gt_anns,
                categories=CATEGORIES), f)
    with open(pred_json, 'w') as f:
        json.dump(dict(annotations=pred_anns), f)
    return gt_json, pred_json


def reference_pq(gt_json: str, pred_json: str) -> dict:
    """panopticapi on the files, single process (its ``pq_compute`` minus the
    pool): per-category stats and the three averages."""
    with open(gt_json) as f:
        gt = json.load(f)
    with open(pred_json) as f:
        pred = {a['image_id']: a for a in json.load(f)['annotations']}
    categories = {c['id']: c for c in gt['categories']}
    pairs = [(a, pred[a['image_id']]) for a in gt['annotations']]
    with contextlib.redirect_stdout(io.StringIO()):
        stat = pq_compute_single_core(0, pairs, gt_json[:-5], pred_json[:-5],
                                      categories)
    return summarise_pq_stat(stat, categories)


def summarise_pq_stat(stat: PQStat, categories: dict) -> dict:
    results = dict(per_class={})
    for name, isthing in (('All', None), ('Things', True), ('Stuff', False)):
        try:
            results[name] = stat.pq_average(categories, isthing=isthing)[0]
        except ZeroDivisionError:  # no class of the group seen
            results[name] = dict(pq=0.0, sq=0.0, rq=0.0, n=0)
    for cat_id in categories:
        s = stat[cat_id]
        results['per_class'][cat_id] = dict(
            tp=s.tp, fp=s.fp, fn=s.fn, iou=s.iou)
    return results


# ------------------------------------------------------------ PNG encoding
_ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4),
          (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1))  # y0, x0, dy, dx


def _filter_rows(pixels: np.ndarray, filters: np.ndarray) -> bytes:
    """PNG-filtered scanlines of (H, W, C) uint8 pixels, one filter type
    (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth) per row."""
    height, width, channels = pixels.shape
    rows, previous = [], np.zeros(width * channels, np.int32)
    for y in range(height):
        current = pixels[y].reshape(-1).astype(np.int32)
        left = np.concatenate([np.zeros(channels, np.int32),
                               current[:-channels]])
        upper_left = np.concatenate([np.zeros(channels, np.int32),
                                     previous[:-channels]])
        kind = int(filters[y])
        if kind == 0:
            predictor = np.zeros_like(current)
        elif kind == 1:
            predictor = left
        elif kind == 2:
            predictor = previous
        elif kind == 3:
            predictor = (left + previous) // 2
        else:
            estimate = left + previous - upper_left
            pa, pb = np.abs(estimate - left), np.abs(estimate - previous)
            pc = np.abs(estimate - upper_left)
            predictor = np.where((pa <= pb) & (pa <= pc), left,
                                 np.where(pb <= pc, previous, upper_left))
        rows.append(
            bytes([kind]) + ((current - predictor) % 256).astype(
                np.uint8).tobytes())
        previous = current
    return b''.join(rows)


def encode_png(pixels: np.ndarray,
               rng: np.random.Generator,
               filters=None,
               interlace: bool = False,
               idat_chunks: int = 1,
               bit_depth: int = 8,
               colour_type: int = None) -> bytes:
    """A PNG of (H, W, 3|4) uint8 RGB(A) pixels with the given (default
    random) filter type per row, Adam7 interlacing on demand and the image
    data split into ``idat_chunks`` IDAT chunks (what encoders do). With
    ``bit_depth``/``colour_type`` only the header is changed, to make
    files that are not 8-bit RGB(A)."""
    height, width, channels = pixels.shape
    if interlace:
        data = b''
        for y0, x0, dy, dx in _ADAM7:
            sub = pixels[y0::dy, x0::dx]
            if sub.size:
                data += _filter_rows(sub, rng.integers(0, 5, sub.shape[0]))
    else:
        filters = rng.integers(0, 5, height) if filters is None else \
            np.broadcast_to(filters, (height, ))
        data = _filter_rows(pixels, filters)
    compressed = zlib.compress(data)
    step = -(-len(compressed) // idat_chunks)

    def chunk(kind, body):
        return (struct.pack('>I', len(body)) + kind + body +
                struct.pack('>I', zlib.crc32(kind + body) & 0xffffffff))

    colour_type = {3: 2, 4: 6}[channels] if colour_type is None \
        else colour_type
    header = struct.pack('>IIBBBBB', width, height, bit_depth, colour_type,
                         0, 0, int(interlace))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + b''.join(
        chunk(b'IDAT', compressed[i:i + step])
        for i in range(0, len(compressed), step)) + chunk(b'IEND', b''))
