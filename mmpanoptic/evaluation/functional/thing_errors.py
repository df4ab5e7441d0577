"""Where thing segments are lost: PQ's false negatives of the thing classes
sorted by cause, and its false positives described, one image at a time.

A ground-truth thing that no predicted segment matches (same class, IoU >
0.5, panopticapi's rule) is missed for one of these reasons, checked in
this order against the model's detections (``pred_instances``: after the
detector's own score threshold and NMS):

- ``'no_detection'``: no detection of its class has box IoU >= 0.5 with it;
- ``'below_cut_off'``: some do, but all score below the panoptic cut-off
  (the score a detection needs to enter the panoptic output);
- ``'lost'``: one above the cut-off exists, yet its segment did not match:
  the fusion (a heuristic merger or an argmax) gave its pixels to other
  segments, split it, or its mask is poor;
- ``'missed'``: the model returned no detections to tell (e.g. mmdet's
  Panoptic FPN, whose predictions are the panoptic map only).
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from .panoptic_quality import (FIRST_SEGMENT_ROW, VOID_ROW, ImageSegments,
                               false_positive_columns, matched_pairs)

THING_OUTCOMES = ('matched', 'no_detection', 'below_cut_off', 'lost', 'missed')


class ThingErrors(NamedTuple):
    """The thing segments of one image, GT and false positives.

    Attributes:
        gt_labels (np.ndarray): (N,) int64 classes of the non-crowd GT
            things.
        gt_sizes (np.ndarray): (N,) float64 their sizes, sqrt(area).
        outcomes (np.ndarray): (N,) int64 indices into ``THING_OUTCOMES``.
        fp_labels (np.ndarray): (F,) int64 classes of the predicted thing
            segments that are false positives.
        fp_areas (np.ndarray): (F,) int64 their areas in pixels.
        fp_best_iou (np.ndarray): (F,) float64 their largest IoU with a
            non-crowd GT segment of their class (0 when none overlaps).
    """
    gt_labels: np.ndarray
    gt_sizes: np.ndarray
    outcomes: np.ndarray
    fp_labels: np.ndarray
    fp_areas: np.ndarray
    fp_best_iou: np.ndarray


def size_buckets(sizes: np.ndarray,
                 size_edges: Sequence[float]) -> Tuple[List[str], np.ndarray]:
    """Size buckets of objects, for the per-size tables of the analysis
    tools.

    Args:
        sizes (np.ndarray): (K,) object sizes (sqrt of the area, pixels).
        size_edges (Sequence[float]): increasing bucket edges.

    Returns:
        tuple[list[str], np.ndarray]: the bucket names (``'< 32'``,
        ``'32-96'``, ``'>= 96'`` for edges (32, 96)) and each object's
        bucket index into them, (K,).
    """
    edges = (0.0, *size_edges, np.inf)
    names = [f'< {edges[1]:g}'] + [
        f'{low:g}-{high:g}' for low, high in zip(edges[1:-2], edges[2:-1])
    ] + [f'>= {edges[-2]:g}']
    return names, np.searchsorted(size_edges, sizes, side='right')


def segment_boxes(gt_rows: np.ndarray, num_rows: int) -> np.ndarray:
    """Tight boxes of the segments of a row map.

    Args:
        gt_rows (np.ndarray): (H, W) ints in [0, num_rows).
        num_rows (int): G.

    Returns:
        np.ndarray: (G, 4) float64 (x1, y1, x2, y2) in pixel edges (a
        segment covering pixels x = 3..5 has x1 = 3, x2 = 6); NaN for rows
        without pixels.
    """
    height, width = gt_rows.shape
    rows = gt_rows.reshape(-1)
    ys, xs = np.divmod(np.arange(rows.size), width)
    boxes = np.full((num_rows, 4), np.nan)
    x1 = np.full(num_rows, width)
    y1 = np.full(num_rows, height)
    x2 = np.full(num_rows, -1)
    y2 = np.full(num_rows, -1)
    np.minimum.at(x1, rows, xs)
    np.minimum.at(y1, rows, ys)
    np.maximum.at(x2, rows, xs)
    np.maximum.at(y2, rows, ys)
    present = x2 >= 0
    boxes[present] = np.stack(
        [x1[present], y1[present], x2[present] + 1, y2[present] + 1], axis=1)
    return boxes


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) (x1, y1, x2, y2) -> (N, M) IoU."""
    top_left = np.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    bottom_right = np.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    overlap = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area1 = (boxes1[:, 2:] - boxes1[:, :2]).prod(axis=1)
    area2 = (boxes2[:, 2:] - boxes2[:, :2]).prod(axis=1)
    union = area1[:, None] + area2[None, :] - overlap
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(union > 0, overlap / union, 0.0)


def thing_errors(image: ImageSegments,
                 gt_rows: np.ndarray,
                 num_things_classes: int,
                 num_classes: int,
                 det_boxes: Optional[np.ndarray] = None,
                 det_scores: Optional[np.ndarray] = None,
                 det_labels: Optional[np.ndarray] = None,
                 cut_off: float = 0.5) -> ThingErrors:
    """Sort one image's missed GT things by cause; describe its false
    positive thing segments.

    Args:
        image (ImageSegments): from
            :func:`~.panoptic_quality.count_image_segments`.
        gt_rows (np.ndarray): (H, W) the GT rows it was counted from.
        num_things_classes (int): T; thing classes are labels [0, T).
        num_classes (int): C.
        det_boxes (np.ndarray, optional): (D, 4) detections (x1, y1, x2, y2)
            in the map's pixels; None when the model gives none (misses are
            then ``'missed'``).
        det_scores (np.ndarray, optional): (D,) their scores.
        det_labels (np.ndarray, optional): (D,) their thing classes.
        cut_off (float): the score a detection needs to enter the panoptic
            output.

    Returns:
        ThingErrors
    """
    joint, gt = image.joint, image.gt
    matched_gt, matched_pred, _ = matched_pairs(joint, gt, image.pred_labels,
                                                image.pred_is_void)
    is_thing = (gt.labels < num_things_classes) & ~gt.iscrowd
    things = np.flatnonzero(is_thing)
    outcomes = np.full(len(gt.ids), THING_OUTCOMES.index('missed'))
    if det_boxes is not None and len(things):
        boxes = segment_boxes(gt_rows, FIRST_SEGMENT_ROW + len(gt.ids))
        boxes = boxes[FIRST_SEGMENT_ROW + things]
        overlaps = box_iou(boxes, np.asarray(det_boxes, np.float64))
        same_class = gt.labels[things][:, None] == np.asarray(det_labels)
        found = (overlaps >= 0.5) & same_class  # (N, D)
        confident = np.asarray(det_scores) >= cut_off
        cause = np.where((found & confident).any(axis=1),
                         THING_OUTCOMES.index('lost'),
                         np.where(
                             found.any(axis=1),
                             THING_OUTCOMES.index('below_cut_off'),
                             THING_OUTCOMES.index('no_detection')))
        outcomes[things] = cause
    outcomes[matched_gt] = THING_OUTCOMES.index('matched')

    false_positives = false_positive_columns(joint, gt, image.pred_labels,
                                             image.pred_is_void, matched_pred,
                                             num_classes)
    false_positives = false_positives[image.pred_labels[false_positives] <
                                      num_things_classes]
    segment_joint = joint[FIRST_SEGMENT_ROW:]
    pred_areas = joint.sum(axis=0)
    intersection = segment_joint[:, false_positives]  # (K, F)
    union = (
        pred_areas[false_positives][None] + gt.areas[:, None] - intersection -
        joint[VOID_ROW][false_positives][None])
    candidate = (gt.labels[:, None]
                 == image.pred_labels[false_positives]) & ~gt.iscrowd[:, None]
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = np.where(candidate & (union > 0), intersection / union, 0.0)
    best_iou = iou.max(
        axis=0) if len(gt.ids) else np.zeros(len(false_positives))
    return ThingErrors(
        gt_labels=gt.labels[things],
        gt_sizes=np.sqrt(gt.areas[things].astype(np.float64)),
        outcomes=outcomes[things],
        fp_labels=image.pred_labels[false_positives],
        fp_areas=pred_areas[false_positives],
        fp_best_iou=best_iou)
