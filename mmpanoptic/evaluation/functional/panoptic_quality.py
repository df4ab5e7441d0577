"""Panoptic quality (PQ, Kirillov et al. 2019) counted in memory.

The counting follows panopticapi's ``pq_compute_single_core`` rule for rule
(see ``../shared/notes/pq-evaluation.md``), vectorised:

* the ground truth comes from a COCO panoptic PNG (segment id = R + 256 G +
  256^2 B, 0 = VOID) and its JSON ``segments_info``; GT areas are the JSON
  ``area`` values (as panopticapi), not pixel counts, unless asked for;
* the prediction is mmdet's ``pred_panoptic_seg`` map (value = label +
  instance_id * INSTANCE_OFFSET, label ``num_classes`` = VOID), never written
  to a PNG;
* one joint histogram of (GT segment, predicted segment) pixel counts per
  image (:func:`~.panoptic_png.joint_histogram`: one pass of the compiled
  kernel over the GT PNG's rows and the prediction; without the kernel,
  :class:`SegmentIdIndexer` and :func:`panoptic_joint_histogram` or
  ``np.unique`` in numpy), then matching over the few non-zero pairs:

  - a pair matches when the categories agree, the GT is not crowd and
    IoU > 0.5, with union = |pred| + |gt| - |pred & gt| - |pred & VOID|;
  - unmatched non-crowd GT segments are false negatives;
  - an unmatched prediction is a false positive unless more than half of it
    lies on VOID plus the crowd region of its own category (the *last* crowd
    segment of that category in ``segments_info`` order, as panopticapi);
* a class enters the averages when TP + FP + FN > 0; SQ of a class with no
  TP is 0.

Per image only per-class sums are kept (:class:`PanopticImageStats`), so a
whole dataset costs a few numbers per image and per class present.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

# mmdet's convention for ``pred_panoptic_seg`` (see
# mmdet.evaluation.functional.INSTANCE_OFFSET).
INSTANCE_OFFSET = 1000
# panopticapi's VOID segment id in PNGs.
VOID_ID = 0
_NUM_PNG_IDS = 256**3

# Rows of the joint histogram before the GT segments.
UNKNOWN_ROW = 0  # a PNG id that is not in segments_info (neither VOID nor
# a segment, as in panopticapi)
VOID_ROW = 1
FIRST_SEGMENT_ROW = 2


class GroundTruthSegments(NamedTuple):
    """The GT segments of one image, in ``segments_info`` order.

    Attributes:
        ids (np.ndarray): (K,) int64 PNG segment ids.
        labels (np.ndarray): (K,) int64 class labels in [0, num_classes).
        areas (np.ndarray, optional): (K,) int64 areas (from the JSON);
            None to count them in the PNG.
        iscrowd (np.ndarray): (K,) bool.
    """
    ids: np.ndarray
    labels: np.ndarray
    areas: np.ndarray
    iscrowd: np.ndarray


class PanopticImageStats(NamedTuple):
    """Per-class PQ sums of one image, sparse over the classes it touches.

    Attributes:
        labels (np.ndarray): (L,) int64 class labels with TP + FP + FN > 0.
        tp, fp, fn (np.ndarray): (L,) int64 counts.
        iou (np.ndarray): (L,) float64 sum of the IoUs of the TP matches.
    """
    labels: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    iou: np.ndarray


class SegmentIdIndexer:
    """Maps 24-bit panoptic ids to joint-histogram rows with one table
    lookup per pixel (no sort, no hashing).

    Holds one ``256^3``-entry table (16 MiB as uint8, 32 MiB as uint16 when
    an image has more than 253 segments), allocated on first use and reset
    after every image, so memory is constant.
    """

    def __init__(self) -> None:
        self._tables: Dict[type, np.ndarray] = {}

    def _table(self, dtype: type) -> np.ndarray:
        table = self._tables.get(dtype)
        if table is None:
            table = np.zeros(_NUM_PNG_IDS, dtype)  # UNKNOWN_ROW everywhere
            table[VOID_ID] = VOID_ROW
            self._tables[dtype] = table
        return table

    def rows(self, id_map: np.ndarray, segment_ids: np.ndarray) -> np.ndarray:
        """Row of every pixel.

        Args:
            id_map (np.ndarray): (H, W) uint32/int ids in [0, 256^3).
            segment_ids (np.ndarray): (K,) distinct ids, none 0.

        Returns:
            np.ndarray: (H, W) uint8/uint16: ``UNKNOWN_ROW``, ``VOID_ROW`` or
            ``FIRST_SEGMENT_ROW + k`` for ``segment_ids[k]``.
        """
        num_rows = FIRST_SEGMENT_ROW + len(segment_ids)
        dtype = np.uint8 if num_rows <= 256 else np.uint16
        if num_rows > 65536:
            raise ValueError(f'Too many segments in one image: '
                             f'{len(segment_ids)} (at most 65534).')
        table = self._table(dtype)
        table[segment_ids] = np.arange(
            FIRST_SEGMENT_ROW, num_rows, dtype=dtype)
        try:
            return np.take(table, id_map)
        finally:
            table[segment_ids] = UNKNOWN_ROW


def panoptic_joint_histogram(
        gt_rows: np.ndarray, num_gt_rows: int,
        pred_map: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Pixel counts of every (GT row, predicted value) pair.

    Args:
        gt_rows (np.ndarray): (H, W) small ints in [0, num_gt_rows).
        num_gt_rows (int): G, the number of GT rows.
        pred_map (np.ndarray): (H, W) non-negative ints, the predicted
            panoptic values (VOID included as ordinary values).

    Returns:
        tuple:
        - joint (np.ndarray): (G, P) int64 pixel counts.
        - pred_values (np.ndarray): (P,) int64, the distinct predicted
          values in increasing order (column ``j`` of ``joint``).
    """
    pred_flat = pred_map.reshape(-1)
    if pred_flat.dtype != np.intp:
        pred_flat = pred_flat.astype(np.intp)
    max_value = int(pred_flat.max()) if pred_flat.size else 0
    if max_value < max(1 << 16, pred_flat.size):
        # small values (mmdet's instance ids): a lookup table, no sort
        present = np.bincount(pred_flat)
        pred_values = np.flatnonzero(present)
        # column of value v, pre-multiplied by G: key = column * G + gt_row
        column_key = np.zeros(len(present), np.intp)
        column_key[pred_values] = np.arange(0,
                                            len(pred_values) * num_gt_rows,
                                            num_gt_rows)
        key = np.take(column_key, pred_flat)
    else:  # huge instance ids: a table would not fit, sort instead
        pred_values, column = np.unique(pred_flat, return_inverse=True)
        key = column.reshape(-1) * num_gt_rows
    key += gt_rows.reshape(-1)
    joint = np.bincount(key, minlength=len(pred_values) * num_gt_rows)
    return joint.reshape(len(pred_values), num_gt_rows).T, pred_values


def matched_pairs(joint: np.ndarray, gt: GroundTruthSegments,
                  pred_labels: np.ndarray,
                  pred_is_void: np.ndarray) -> Tuple[np.ndarray, ...]:
    """The (GT segment, predicted segment) matches of one image: same
    category, non-crowd GT, IoU > 0.5 with union = |pred| + |gt| -
    |pred & gt| - |pred & VOID| (panopticapi). Matches are unique.

    Args:
        joint (np.ndarray): (FIRST_SEGMENT_ROW + K, P) int64 pixel counts
            (:func:`panoptic_joint_histogram`).
        gt (GroundTruthSegments): K segments, in ``segments_info`` order.
        pred_labels (np.ndarray): (P,) int64 class label of each column.
        pred_is_void (np.ndarray): (P,) bool, columns that are VOID.

    Returns:
        tuple: (M,) GT indices (into ``gt``), (M,) column indices and (M,)
        float64 IoUs of the matches.
    """
    segment_joint = joint[FIRST_SEGMENT_ROW:]
    pred_areas = joint.sum(axis=0)
    pred_on_void = joint[VOID_ROW]
    # candidate matches: overlapping, non-crowd GT, same class, real segment
    gt_index, pred_index = np.nonzero(segment_joint)
    keep = (~gt.iscrowd[gt_index]) & (~pred_is_void[pred_index]) & (
        gt.labels[gt_index] == pred_labels[pred_index])
    gt_index, pred_index = gt_index[keep], pred_index[keep]
    intersection = segment_joint[gt_index, pred_index]
    union = (
        pred_areas[pred_index] + gt.areas[gt_index] - intersection -
        pred_on_void[pred_index])
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = intersection / union
    matched = iou > 0.5  # strict: matches are unique
    return gt_index[matched], pred_index[matched], iou[matched]


def false_positive_columns(joint: np.ndarray, gt: GroundTruthSegments,
                           pred_labels: np.ndarray, pred_is_void: np.ndarray,
                           matched_pred: np.ndarray,
                           num_classes: int) -> np.ndarray:
    """Columns that are false positives: unmatched predicted segments not
    lying for more than half on VOID plus the crowd region of their own
    category (the *last* crowd segment of that category in
    ``segments_info`` order, as panopticapi).

    Returns:
        np.ndarray: column indices, increasing.
    """
    segment_joint = joint[FIRST_SEGMENT_ROW:]
    pred_areas = joint.sum(axis=0)
    pred_unmatched = ~pred_is_void
    pred_unmatched[matched_pred] = False
    candidates = np.flatnonzero(pred_unmatched)
    ignored_pixels = joint[VOID_ROW][candidates].copy()
    if not gt.iscrowd.any():
        return candidates[~(ignored_pixels / pred_areas[candidates] > 0.5)]
    crowd_row_of_label = np.full(num_classes, -1, np.int64)
    crowd_index = np.flatnonzero(gt.iscrowd)[::-1]
    crowd_labels, first_from_end = np.unique(
        gt.labels[crowd_index], return_index=True)
    crowd_row_of_label[crowd_labels] = crowd_index[first_from_end]
    crowd_rows = crowd_row_of_label[pred_labels[candidates]]
    has_crowd = crowd_rows >= 0
    ignored_pixels[has_crowd] += segment_joint[crowd_rows[has_crowd],
                                               candidates[has_crowd]]
    return candidates[~(ignored_pixels / pred_areas[candidates] > 0.5)]


def match_segments(joint: np.ndarray, gt: GroundTruthSegments,
                   pred_labels: np.ndarray, pred_is_void: np.ndarray,
                   num_classes: int) -> PanopticImageStats:
    """PQ counts of one image from its joint histogram (panopticapi rules).

    Args:
        joint (np.ndarray): (FIRST_SEGMENT_ROW + K, P) int64 pixel counts;
            row ``VOID_ROW`` is GT VOID, rows ``FIRST_SEGMENT_ROW + k`` are
            ``gt`` segments in order; columns are predicted segments.
        gt (GroundTruthSegments): K segments, in ``segments_info`` order.
        pred_labels (np.ndarray): (P,) int64 class label of each column.
        pred_is_void (np.ndarray): (P,) bool, columns that are VOID (not
            segments).
        num_classes (int): C.

    Returns:
        PanopticImageStats: per-class sums of this image.
    """
    matched_gt, matched_pred, matched_iou = matched_pairs(
        joint, gt, pred_labels, pred_is_void)
    matched_labels = gt.labels[matched_gt]
    tp = np.bincount(matched_labels, minlength=num_classes)
    iou_sum = np.bincount(
        matched_labels, weights=matched_iou, minlength=num_classes)

    # false negatives: unmatched, non-crowd GT
    gt_unmatched = np.ones(len(gt.ids), bool)
    gt_unmatched[matched_gt] = False
    fn = np.bincount(
        gt.labels[gt_unmatched & ~gt.iscrowd], minlength=num_classes)

    false_positives = false_positive_columns(joint, gt, pred_labels,
                                             pred_is_void, matched_pred,
                                             num_classes)
    fp = np.bincount(pred_labels[false_positives], minlength=num_classes)

    labels = np.flatnonzero(tp + fp + fn)
    return PanopticImageStats(labels, tp[labels], fp[labels], fn[labels],
                              iou_sum[labels])


class ImageSegments(NamedTuple):
    """One image's GT and predicted segments, counted against each other.

    Attributes:
        joint (np.ndarray): (FIRST_SEGMENT_ROW + K, P) int64 pixel counts of
            every (GT row, predicted value) pair.
        gt (GroundTruthSegments): the K GT segments, with their areas.
        pred_values (np.ndarray): (P,) the predicted values (label +
            instance * ``INSTANCE_OFFSET``) of the columns.
        pred_labels (np.ndarray): (P,) their class labels (0 for VOID).
        pred_is_void (np.ndarray): (P,) bool, columns that are VOID.
    """
    joint: np.ndarray
    gt: GroundTruthSegments
    pred_values: np.ndarray
    pred_labels: np.ndarray
    pred_is_void: np.ndarray


def count_image_segments(gt_rows: np.ndarray,
                         gt: GroundTruthSegments,
                         pred_map: np.ndarray,
                         num_classes: int,
                         void_labels: Sequence[int] = ()) -> ImageSegments:
    """Joint histogram and column labels of one image.

    Args:
        gt_rows (np.ndarray): (H, W) rows from :class:`SegmentIdIndexer`.
        gt (GroundTruthSegments): the K GT segments (areas None: counted
            in the PNG).
        pred_map (np.ndarray): (H, W) ints, label + instance *
            ``INSTANCE_OFFSET``; label ``num_classes`` (or one of
            ``void_labels``) is VOID.
        num_classes (int): C.
        void_labels (Sequence[int]): more labels read as VOID (mmdet's
            ``ignore_index``).

    Raises:
        ValueError: on predicted labels above ``num_classes``.
    """
    joint, pred_values = panoptic_joint_histogram(
        gt_rows, FIRST_SEGMENT_ROW + len(gt.ids), pred_map)
    return image_segments(joint, gt, pred_values, num_classes, void_labels)


def segment_rows(gt_values: np.ndarray, counts: np.ndarray,
                 segment_ids: np.ndarray) -> np.ndarray:
    """The joint histogram in rows (unknown, VOID, segments) from the pixel
    counts of every (GT id, predicted value) pair.

    Args:
        gt_values (np.ndarray): (A,) increasing GT PNG ids present.
        counts (np.ndarray): (A, P) pixel counts (:func:`joint_histogram`).
        segment_ids (np.ndarray): (K,) the ids of the GT segments, in
            ``segments_info`` order.

    Returns:
        np.ndarray: (FIRST_SEGMENT_ROW + K, P) int64: row ``VOID_ROW`` is id
        0, row ``FIRST_SEGMENT_ROW + k`` is ``segment_ids[k]`` (zeros when
        absent from the PNG) and row ``UNKNOWN_ROW`` the ids that are
        neither.
    """
    joint = np.zeros((FIRST_SEGMENT_ROW + len(segment_ids), counts.shape[1]),
                     np.int64)
    if len(gt_values) == 0:
        return joint
    position = np.minimum(
        np.searchsorted(gt_values, segment_ids),
        len(gt_values) - 1)
    found = gt_values[position] == segment_ids
    joint[FIRST_SEGMENT_ROW:][found] = counts[position[found]]
    if gt_values[0] == VOID_ID:
        joint[VOID_ROW] = counts[0]
    joint[UNKNOWN_ROW] = counts.sum(axis=0) - joint[VOID_ROW:].sum(axis=0)
    return joint


def image_segments(joint: np.ndarray,
                   gt: GroundTruthSegments,
                   pred_values: np.ndarray,
                   num_classes: int,
                   void_labels: Sequence[int] = ()) -> ImageSegments:
    """Column labels of one image's joint histogram (mmdet prediction
    values: label + instance * ``INSTANCE_OFFSET``, label ``num_classes``
    or one of ``void_labels`` VOID).

    Args:
        joint (np.ndarray): (FIRST_SEGMENT_ROW + K, P) pixel counts.
        gt (GroundTruthSegments): the K GT segments (areas None: counted
            in the PNG).
        pred_values (np.ndarray): (P,) the predicted value of each column.
        num_classes (int): C.
        void_labels (Sequence[int]): more labels read as VOID.

    Raises:
        ValueError: on predicted labels above ``num_classes``.
    """
    if gt.areas is None:  # no JSON areas: count them in the PNG
        gt = gt._replace(areas=joint[FIRST_SEGMENT_ROW:].sum(axis=1))
    pred_labels, pred_is_void = prediction_labels(pred_values, num_classes,
                                                  void_labels)
    return ImageSegments(joint, gt, pred_values, pred_labels, pred_is_void)


def prediction_labels(
        pred_values: np.ndarray,
        num_classes: int,
        void_labels: Sequence[int] = ()) -> Tuple[np.ndarray, np.ndarray]:
    """Class labels and VOID flags of mmdet prediction values (label +
    instance * ``INSTANCE_OFFSET``; label ``num_classes`` or one of
    ``void_labels`` is VOID).

    Returns:
        tuple: (P,) int64 labels (0 for VOID) and (P,) bool VOID flags.

    Raises:
        ValueError: on labels above ``num_classes``.
    """
    pred_labels = pred_values % INSTANCE_OFFSET
    pred_is_void = pred_labels == num_classes
    for label in void_labels:
        pred_is_void |= pred_labels == label
    bad = (pred_labels > num_classes) & ~pred_is_void
    if bad.any():
        raise ValueError(
            f'pred_panoptic_seg has labels {pred_labels[bad].tolist()} '
            f'outside [0, {num_classes}] (values {pred_values[bad].tolist()},'
            f' value = label + instance_id * {INSTANCE_OFFSET}, '
            f'{num_classes} = VOID).')
    return np.where(pred_is_void, 0, pred_labels), pred_is_void


def pq_stats_single_image(
    gt_rows: np.ndarray,
    gt: GroundTruthSegments,
    pred_map: np.ndarray,
    num_classes: int,
    void_labels: Sequence[int] = ()
) -> PanopticImageStats:
    """PQ counts of one image (arguments as :func:`count_image_segments`).

    Returns:
        PanopticImageStats
    """
    image = count_image_segments(gt_rows, gt, pred_map, num_classes,
                                 void_labels)
    return match_segments(image.joint, image.gt, image.pred_labels,
                          image.pred_is_void, num_classes)


def semantic_confusion(
        gt_rows: np.ndarray, row_labels: np.ndarray, pred_sem: np.ndarray,
        num_classes: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class intersection and areas for IoU, mmseg's convention (GT
    ignore pixels are left out of both areas).

    Args:
        gt_rows (np.ndarray): (H, W) rows from :class:`SegmentIdIndexer`.
        row_labels (np.ndarray): (G,) class label of each row, -1 for VOID
            and unknown rows.
        pred_sem (np.ndarray): (H, W) ints in [0, num_classes).
        num_classes (int): C.

    Returns:
        tuple: (C,) int64 intersection, GT area and predicted area.
    """
    num_rows = len(row_labels)
    key = pred_sem.reshape(-1).astype(np.intp) * num_rows
    key += gt_rows.reshape(-1)
    joint = np.bincount(
        key, minlength=num_classes * num_rows).reshape(num_classes, num_rows)
    valid = row_labels >= 0
    confusion = np.zeros((num_classes, num_classes), np.int64)  # pred x gt
    np.add.at(confusion.T, row_labels[valid], joint[:, valid].T)
    return (np.diagonal(confusion).copy(), confusion.sum(axis=0),
            confusion.sum(axis=1))


def pq_average(
    tp: np.ndarray,
    fp: np.ndarray,
    fn: np.ndarray,
    iou: np.ndarray,
    class_mask: Optional[np.ndarray] = None
) -> Tuple[Dict[str, float], Dict[str, np.ndarray]]:
    """PQ, SQ, RQ averaged over the classes with TP + FP + FN > 0.

    Args:
        tp, fp, fn (np.ndarray): (C,) totals over the dataset.
        iou (np.ndarray): (C,) sum of matched IoUs.
        class_mask (np.ndarray, optional): (C,) bool, the classes to
            average (things or stuff); all by default.

    Returns:
        tuple: ``{'pq', 'sq', 'rq', 'n'}`` (fractions in [0, 1]) and the
        per-class ``{'pq', 'sq', 'rq'}`` (C,) arrays (0 where unseen).
    """
    tp, fp, fn = (np.asarray(a, np.int64) for a in (tp, fp, fn))
    iou = np.asarray(iou, np.float64)
    seen = (tp + fp + fn) > 0
    if class_mask is not None:
        seen &= class_mask
    denominator = np.where(seen, tp + 0.5 * fp + 0.5 * fn, 1.0)
    pq = np.where(seen, iou / denominator, 0.0)
    sq = np.where(seen & (tp > 0), iou / np.maximum(tp, 1), 0.0)
    rq = np.where(seen, tp / denominator, 0.0)
    n = int(seen.sum())
    # panopticapi sums class by class in category order, then divides by n;
    # an empty group divides by zero there (ZeroDivisionError): 0 here.
    average = {
        name: (float(sum(values[seen].tolist())) / n if n else 0.0)
        for name, values in (('pq', pq), ('sq', sq), ('rq', rq))
    }
    average['n'] = n
    return average, dict(pq=pq, sq=sq, rq=rq)


def accumulate_image_stats(stats: Sequence[PanopticImageStats],
                           num_classes: int) -> Tuple[np.ndarray, ...]:
    """Dataset totals (C,) tp, fp, fn (int64) and iou (float64)."""
    tp = np.zeros(num_classes, np.int64)
    fp = np.zeros(num_classes, np.int64)
    fn = np.zeros(num_classes, np.int64)
    iou = np.zeros(num_classes, np.float64)
    for image in stats:
        tp[image.labels] += image.tp
        fp[image.labels] += image.fp
        fn[image.labels] += image.fn
        iou[image.labels] += image.iou
    return tp, fp, fn, iou


def segments_from_json(segments_info: List[dict],
                       cat_to_label: Dict[int, int],
                       image_name: str = '') -> GroundTruthSegments:
    """GT segments of one image from COCO panoptic ``segments_info``.

    Raises:
        ValueError: on unknown categories, duplicate ids, id 0 (VOID) or a
            missing ``area``.
    """
    ids = np.array([s['id'] for s in segments_info], np.int64)
    if len(np.unique(ids)) != len(ids):
        raise ValueError(f'Duplicate segment ids in the annotation of '
                         f'{image_name!r}: {ids.tolist()}.')
    if (ids <= 0).any() or (ids >= _NUM_PNG_IDS).any():
        raise ValueError(f'Segment ids of {image_name!r} must be in '
                         f'[1, 256^3) (0 is VOID): {ids.tolist()}.')
    try:
        labels = np.array(
            [cat_to_label[s['category_id']] for s in segments_info], np.int64)
    except KeyError as error:
        raise ValueError(f'The annotation of {image_name!r} has a segment of '
                         f'unknown category_id {error.args[0]}; known: '
                         f'{sorted(cat_to_label)}.') from None
    try:
        areas = np.array([s['area'] for s in segments_info], np.int64)
    except KeyError:
        raise ValueError(f'A segment of {image_name!r} has no "area" in the '
                         f'annotation file.') from None
    iscrowd = np.array([bool(s.get('iscrowd', 0)) for s in segments_info],
                       bool)
    return GroundTruthSegments(ids, labels, areas, iscrowd)


def area_mismatch_message(png_file: str, segment_id: int, json_area: int,
                          png_area: int, json_file: Optional[str],
                          option: str) -> str:
    """The warning for a GT segment whose JSON ``area`` is not its pixel
    count in the PNG."""
    return (f'GT segment {segment_id} of {png_file} has "area" {json_area} '
            f'in {json_file or "the annotations"} but {png_area} pixels in '
            f'the PNG. panopticapi takes the JSON area for the IoU (a wrong '
            f'one can even give PQ above 100), and so does this evaluation '
            f'by default; {option} counts the PNG pixels instead. Shown for '
            f'the first such segment only; tools/misc/check_dataset.py '
            f'lists them all.')
