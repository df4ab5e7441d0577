"""Panoptic quality of predictions on disk, equal to panopticapi's
``pq_compute``.

Ground truth and predictions in the COCO panoptic format (a JSON with
``annotations[].segments_info`` plus a folder of PNGs, segment id = R + 256
G + 256^2 B, 0 = VOID), as another toolbox writes them or as a test-dev
submission. Per image both PNGs are counted against each other in one pass
(:func:`joint_histogram`) and matched by panopticapi's rules
(:func:`image_pq_stats`); the result is panopticapi's dict. Bad input is
refused with panopticapi's strictness and a message that names the file: a
PNG id missing from the JSON (and the reverse), an unknown category, a
missing file, PNGs of different sizes, repeated image or segment ids.
"""
import json
import multiprocessing
import os.path as osp
import sys
import time
import warnings
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from .panoptic_png import (image_pq_stats, joint_histogram, map_shape,
                           read_panoptic_png)
from .panoptic_quality import (GroundTruthSegments, area_mismatch_message,
                               pq_average, segments_from_json)

GROUPS = (('All', None), ('Things', True), ('Stuff', False))


class PredictedSegments(NamedTuple):
    """The predicted segments of one image, sorted by id.

    Attributes:
        ids (np.ndarray): (P,) int64 PNG segment ids, increasing.
        labels (np.ndarray): (P,) int64 class labels.
    """
    ids: np.ndarray
    labels: np.ndarray


class ImagePair(NamedTuple):
    """One image to score: where its PNGs are and what their JSONs say."""
    image_id: object
    gt_png: str
    pred_png: str
    gt: GroundTruthSegments
    pred: PredictedSegments


class PanopticCounts(NamedTuple):
    """Dataset totals per class (in the GT JSON's category order).

    Attributes:
        categories (list): the GT JSON's categories.
        tp, fp, fn (np.ndarray): (C,) int64.
        iou (np.ndarray): (C,) float64 sum of the IoUs of the matches.
    """
    categories: List[dict]
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    iou: np.ndarray


def _load_json(path: str, what: str) -> dict:
    try:
        with open(path) as f:
            content = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f'The {what} JSON {path} does not '
                                f'exist.') from None
    except json.JSONDecodeError as error:
        raise ValueError(f'The {what} JSON {path} is not valid JSON: '
                         f'{error}.') from None
    if not isinstance(content, dict) or 'annotations' not in content:
        raise ValueError(f'The {what} JSON {path} has no "annotations".')
    return content


def _annotations_by_image(annotations: list, path: str) -> dict:
    by_image, repeated = {}, []
    for annotation in annotations:
        image_id = annotation['image_id']
        if image_id in by_image:
            repeated.append(image_id)
        by_image[image_id] = annotation
    if repeated:
        raise ValueError(f'{path} has more than one annotation for the '
                         f'image ids {sorted(set(repeated))[:20]} (each '
                         f'image must appear once).')
    return by_image


def _predicted_segments(annotation: dict, cat_to_label: Dict[int, int],
                        pred_json: str) -> PredictedSegments:
    where = f'image_id {annotation["image_id"]!r} of {pred_json}'
    segments = annotation.get('segments_info')
    if segments is None:
        raise ValueError(f'The annotation of {where} has no '
                         f'"segments_info".')
    ids = np.array([s['id'] for s in segments], np.int64)
    if len(np.unique(ids)) != len(ids):
        raise ValueError(f'Repeated segment ids in the segments_info of '
                         f'{where}: {ids.tolist()}.')
    if len(ids) and (ids.min() <= 0 or ids.max() >= 256**3):
        raise ValueError(f'Segment ids of {where} must be in [1, 256^3) '
                         f'(0 is VOID): {ids.tolist()}.')
    labels = []
    for segment in segments:
        label = cat_to_label.get(segment['category_id'])
        if label is None:
            raise ValueError(
                f'Segment {segment["id"]} of {where} has the unknown '
                f'category_id {segment["category_id"]} (the categories of '
                f'the ground truth are {sorted(cat_to_label)}).')
        labels.append(label)
    order = np.argsort(ids, kind='stable')
    return PredictedSegments(ids[order], np.array(labels, np.int64)[order])


def load_image_pairs(gt_json: str,
                     pred_json: str,
                     gt_folder: Optional[str] = None,
                     pred_folder: Optional[str] = None
                     ) -> Tuple[List[dict], List[ImagePair]]:
    """The categories and the images to score, checked as far as the JSONs
    allow (the PNGs are checked while scoring).

    Folders default to the JSON paths without ``.json`` (panopticapi).
    Every GT image needs a prediction; predictions of other images are
    ignored (panopticapi).

    Raises:
        FileNotFoundError: on a missing JSON or folder.
        ValueError: on repeated image or segment ids, unknown categories,
            a GT image without prediction.
    """
    gt_folder = gt_json.replace('.json', '') if gt_folder is None \
        else gt_folder
    pred_folder = pred_json.replace('.json', '') if pred_folder is None \
        else pred_folder
    gt_content = _load_json(gt_json, 'ground-truth')
    pred_content = _load_json(pred_json, 'prediction')
    for folder, what in ((gt_folder, 'ground-truth'),
                         (pred_folder, 'prediction')):
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'The {what} PNG folder {folder} does not exist.')
    categories = gt_content.get('categories')
    if not categories:
        raise ValueError(f'{gt_json} has no "categories".')
    cat_to_label = {c['id']: label for label, c in enumerate(categories)}
    if len(cat_to_label) != len(categories):
        raise ValueError(f'{gt_json} has repeated category ids.')
    gt_by_image = _annotations_by_image(gt_content['annotations'], gt_json)
    pred_by_image = _annotations_by_image(pred_content['annotations'],
                                          pred_json)
    missing = [i for i in gt_by_image if i not in pred_by_image]
    if missing:
        raise ValueError(f'{pred_json} has no prediction for the image ids '
                         f'{missing[:20]} of {gt_json}'
                         f'{" (and more)" if len(missing) > 20 else ""}.')
    pairs = []
    for image_id, gt_annotation in gt_by_image.items():
        pred_annotation = pred_by_image[image_id]
        gt = segments_from_json(gt_annotation['segments_info'], cat_to_label,
                                f'image_id {image_id!r} of {gt_json}')
        pairs.append(
            ImagePair(
                image_id=image_id,
                gt_png=osp.join(gt_folder, gt_annotation['file_name']),
                pred_png=osp.join(pred_folder, pred_annotation['file_name']),
                gt=gt,
                pred=_predicted_segments(pred_annotation, cat_to_label,
                                         pred_json)))
    return categories, pairs


def _read(path: str, what: str, image_id) -> bytes:
    try:
        with open(path, 'rb') as f:
            return f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f'The {what} PNG {path} of image_id '
                                f'{image_id!r} does not exist.') from None


def score_image_pair(pair: ImagePair, num_classes: int, gt_areas: str
                     ) -> Tuple[np.ndarray, Optional[Tuple[int, int, int]]]:
    """PQ counts of one image from its two PNGs.

    Returns:
        tuple: (L, 5) float64 rows [label, TP, FP, FN, IoU sum] of the
        classes it touches, and (segment id, JSON area, PNG pixels) of the
        first GT segment whose areas differ (None if none does).

    Raises:
        FileNotFoundError: on a missing PNG.
        ValueError: on a bad PNG, PNGs of different sizes, or a PNG id
            missing from its JSON (and the reverse).
    """
    gt_png = read_panoptic_png(_read(pair.gt_png, 'ground-truth',
                                     pair.image_id), pair.gt_png)
    pred_png = read_panoptic_png(_read(pair.pred_png, 'prediction',
                                       pair.image_id), pair.pred_png)
    if map_shape(gt_png) != map_shape(pred_png):
        raise ValueError(
            f'Image_id {pair.image_id!r}: the prediction {pair.pred_png} '
            f'is {_size(pred_png)} pixels but the ground truth '
            f'{pair.gt_png} is {_size(gt_png)}.')
    try:
        gt_values, pred_values, counts = joint_histogram(gt_png, pred_png)
    except ValueError as error:  # a corrupt row filter
        raise ValueError(f'Image_id {pair.image_id!r} ({pair.gt_png}, '
                         f'{pair.pred_png}): {error}') from None

    # columns: the PNG ids, which must be those of segments_info (+ VOID)
    pred = pair.pred
    if len(pred.ids):
        position = np.minimum(
            np.searchsorted(pred.ids, pred_values),
            len(pred.ids) - 1)
        known = pred.ids[position] == pred_values
        pred_labels = np.where(known, pred.labels[position], 0)
    else:  # an empty prediction: all VOID
        known = np.zeros(len(pred_values), bool)
        pred_labels = np.zeros(len(pred_values), np.int64)
    pred_is_void = pred_values == 0
    unknown = ~known & ~pred_is_void
    if unknown.any():
        raise ValueError(
            f'Segment ids {pred_values[unknown].tolist()} are in the PNG '
            f'{pair.pred_png} but not in the segments_info of its '
            f'prediction (image_id {pair.image_id!r}).')
    if known.sum() != len(pred.ids):
        absent = np.setdiff1d(pred.ids, pred_values)
        raise ValueError(
            f'Segment ids {absent.tolist()} are in the segments_info of the '
            f'prediction of image_id {pair.image_id!r} but not in its PNG '
            f'{pair.pred_png}.')

    gt = pair.gt._replace(areas=None) if gt_areas == 'png' else pair.gt
    stats, png_areas = image_pq_stats(gt_values, counts, gt, pred_labels,
                                      pred_is_void, num_classes)
    mismatch = None
    if gt.areas is not None:
        differ = np.flatnonzero(png_areas != gt.areas)
        if len(differ):
            k = differ[0]
            mismatch = (int(gt.ids[k]), int(gt.areas[k]), int(png_areas[k]))
    return np.stack([stats.labels, stats.tp, stats.fp, stats.fn, stats.iou],
                    axis=1).astype(np.float64), mismatch


def _size(label_map) -> str:
    height, width = map_shape(label_map)
    return f'{width}x{height}'


# State of the worker processes (set once per process by _init_worker).
_WORKER: dict = {}


def _init_worker(pairs: List[ImagePair], num_classes: int,
                 gt_areas: str) -> None:
    _WORKER.update(pairs=pairs, num_classes=num_classes, gt_areas=gt_areas)


def _score_chunk(indices: range):
    """Totals of a run of images and the first area mismatch in it."""
    pairs, num_classes = _WORKER['pairs'], _WORKER['num_classes']
    totals = np.zeros((4, num_classes), np.float64)
    first_mismatch = None
    for index in indices:
        rows, mismatch = score_image_pair(pairs[index], num_classes,
                                          _WORKER['gt_areas'])
        labels = rows[:, 0].astype(np.int64)
        totals[:, labels] += rows[:, 1:].T
        if mismatch is not None and first_mismatch is None:
            first_mismatch = (index, ) + mismatch
    return len(indices), totals, first_mismatch


def pq_stat_files(gt_json: str,
                  pred_json: str,
                  gt_folder: Optional[str] = None,
                  pred_folder: Optional[str] = None,
                  nproc: int = 1,
                  gt_areas: str = 'json',
                  progress: bool = False) -> PanopticCounts:
    """Per-class TP, FP, FN and IoU sums of predictions on disk.

    Args:
        gt_json (str): COCO panoptic ground truth (``categories`` with
            ``isthing``, ``annotations``).
        pred_json (str): predictions (``annotations``) in the same format.
        gt_folder (str, optional): GT PNG folder; default ``gt_json``
            without ``.json``.
        pred_folder (str, optional): prediction PNG folder; default
            ``pred_json`` without ``.json``.
        nproc (int): processes counting the images.
        gt_areas (str): ``'json'`` (panopticapi) or ``'png'``: the GT area
            in the IoU union. With ``'json'``, the first GT segment whose
            JSON area differs from its PNG pixels is named in a warning.
        progress (bool): show a progress bar (on stderr).

    Returns:
        PanopticCounts
    """
    if gt_areas not in ('json', 'png'):
        raise ValueError(f'gt_areas must be "json" (panopticapi) or "png", '
                         f'got {gt_areas!r}.')
    if nproc < 1:
        raise ValueError(f'nproc must be at least 1, got {nproc}.')
    categories, pairs = load_image_pairs(gt_json, pred_json, gt_folder,
                                         pred_folder)
    num_classes = len(categories)
    chunk = max(1, min(64, len(pairs) // (8 * nproc)))
    chunks = [
        range(start, min(start + chunk, len(pairs)))
        for start in range(0, len(pairs), chunk)
    ]
    bar = _progress_bar(len(pairs)) if progress else None
    totals = np.zeros((4, num_classes), np.float64)
    first_mismatch = None
    if nproc == 1:
        _init_worker(pairs, num_classes, gt_areas)
        results = map(_score_chunk, chunks)
        pool = None
    else:
        pool = multiprocessing.Pool(
            nproc,
            initializer=_init_worker,
            initargs=(pairs, num_classes, gt_areas))
        results = pool.imap_unordered(_score_chunk, chunks)
    try:
        for done, chunk_totals, mismatch in results:
            totals += chunk_totals
            if mismatch is not None and (first_mismatch is None
                                         or mismatch[0] < first_mismatch[0]):
                first_mismatch = mismatch
            if bar is not None:
                bar.update(done)
    finally:
        if pool is not None:
            pool.terminate()
        if bar is not None:
            bar.close()
        _WORKER.clear()
    if first_mismatch is not None:
        index, segment_id, json_area, png_area = first_mismatch
        warnings.warn(
            area_mismatch_message(pairs[index].gt_png, segment_id, json_area,
                                  png_area, gt_json, '--gt-areas png'))
    tp, fp, fn, iou = totals
    return PanopticCounts(categories, tp.astype(np.int64),
                          fp.astype(np.int64), fn.astype(np.int64), iou)


def _progress_bar(total: int):
    from tqdm import tqdm
    return tqdm(total=total, unit='img', file=sys.stderr, smoothing=0.1)


def pq_results(counts: PanopticCounts) -> dict:
    """panopticapi's result dict: ``All``, ``Things``, ``Stuff`` (``pq``,
    ``sq``, ``rq`` in [0, 1] and ``n``) and ``per_class`` (category id ->
    ``pq``, ``sq``, ``rq``)."""
    is_thing = np.array([c.get('isthing') == 1 for c in counts.categories])
    results = {}
    for name, isthing in GROUPS:
        mask = None if isthing is None else is_thing == isthing
        average, per_class = pq_average(counts.tp, counts.fp, counts.fn,
                                        counts.iou, mask)
        results[name] = average
        if name == 'All':
            results['per_class'] = {
                c['id']: {key: float(per_class[key][label])
                          for key in ('pq', 'sq', 'rq')}
                for label, c in enumerate(counts.categories)
            }
    return results


def pq_compute(gt_json_file: str,
               pred_json_file: str,
               gt_folder: Optional[str] = None,
               pred_folder: Optional[str] = None,
               nproc: int = 1,
               gt_areas: str = 'json',
               progress: bool = False) -> dict:
    """panopticapi's ``pq_compute``: prints its table, returns its dict.

    Arguments as :func:`pq_stat_files`.
    """
    start = time.time()
    print('Evaluation panoptic segmentation metrics:')
    print('Ground truth:')
    print(f'\tSegmentation folder: '
          f'{gt_folder or gt_json_file.replace(".json", "")}')
    print(f'\tJSON file: {gt_json_file}')
    print('Prediction:')
    print(f'\tSegmentation folder: '
          f'{pred_folder or pred_json_file.replace(".json", "")}')
    print(f'\tJSON file: {pred_json_file}')
    counts = pq_stat_files(gt_json_file, pred_json_file, gt_folder,
                           pred_folder, nproc, gt_areas, progress)
    results = pq_results(counts)
    print(format_pq_table(results))
    print(f'Time elapsed: {time.time() - start:0.2f} seconds')
    return results


def format_pq_table(results: dict) -> str:
    """panopticapi's table of the three averages."""
    lines = ['{:10s}| {:>5s}  {:>5s}  {:>5s} {:>5s}'.format(
        '', 'PQ', 'SQ', 'RQ', 'N'), '-' * (10 + 7 * 4)]
    for name, _ in GROUPS:
        lines.append('{:10s}| {:5.1f}  {:5.1f}  {:5.1f} {:5d}'.format(
            name, 100 * results[name]['pq'], 100 * results[name]['sq'],
            100 * results[name]['rq'], results[name]['n']))
    return '\n'.join(lines)


def format_classwise_table(counts: PanopticCounts, results: dict) -> str:
    """One row per category: PQ, SQ, RQ (in %) and TP, FP, FN."""
    width = max([len(str(c['name'])) for c in counts.categories] + [8])
    lines = [f'{"category":{width}s} | {"id":>5s} | {"PQ":>6s} '
             f'{"SQ":>6s} {"RQ":>6s} | {"TP":>6s} {"FP":>6s} {"FN":>6s}']
    lines.append('-' * len(lines[0]))
    for label, category in enumerate(counts.categories):
        per_class = results['per_class'][category['id']]
        lines.append(
            f'{str(category["name"]):{width}s} | {category["id"]:5d} | '
            f'{100 * per_class["pq"]:6.2f} {100 * per_class["sq"]:6.2f} '
            f'{100 * per_class["rq"]:6.2f} | {counts.tp[label]:6d} '
            f'{counts.fp[label]:6d} {counts.fn[label]:6d}')
    return '\n'.join(lines)
