"""``PanopticMetric``: PQ/SQ/RQ (and mIoU) in memory, equal to panopticapi.

A drop-in replacement for mmdet's ``CocoPanopticMetric`` (same arguments
and metric names, ``coco_panoptic/PQ`` ...), which writes every prediction to
a PNG and reads it back. Here the prediction stays in memory; the GT PNG is
inflated and its rows are counted against the prediction in one pass of a
compiled kernel (no decoded image), and each image leaves a few per-class
numbers in ``self.results``.
"""
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.fileio import dump, get_file_backend, load, put
from mmengine.logging import MMLogger, print_log
from terminaltables import AsciiTable

from mmpanoptic.registry import METRICS
from mmpanoptic.utils.panoptic_ids import id2rgb
from ..functional.panoptic_png import (image_pq_stats, joint_histogram,
                                       map_shape, png_ids, read_panoptic_png)
from ..functional.panoptic_quality import (
    FIRST_SEGMENT_ROW, INSTANCE_OFFSET, GroundTruthSegments,
    PanopticImageStats, SegmentIdIndexer, accumulate_image_stats,
    area_mismatch_message, image_segments, match_segments,
    panoptic_joint_histogram, pq_average, prediction_labels,
    segments_from_json, semantic_confusion)


def _field(container, name: str, default=None):
    """``container[name]`` for dicts and data elements alike."""
    if isinstance(container, dict):
        return container.get(name, default)
    return getattr(container, name, default)


def _to_numpy(array) -> np.ndarray:
    return array.detach().cpu().numpy() if hasattr(array, 'detach') \
        else np.asarray(array)


def _unpack_pq(packed: np.ndarray) -> PanopticImageStats:
    """(L, 5) [label, TP, FP, FN, IoU sum] rows -> PanopticImageStats."""
    labels, tp, fp, fn = packed[:, :4].astype(np.int64).T
    return PanopticImageStats(labels, tp, fp, fn, packed[:, 4])


@METRICS.register_module()
class PanopticMetric(BaseMetric):
    """Panoptic quality of ``pred_panoptic_seg``, counted in memory.

    Equal to panopticapi's ``pq_compute`` on the same data (every PQ, SQ, RQ
    and TP/FP/FN; crowd, VOID, GT areas from the JSON and the "unmatched
    prediction mostly on VOID + crowd" rule included), without writing or
    re-reading prediction PNGs. With ``pred_sem_seg`` in the data samples it
    also reports the semantic mIoU (mmseg's convention, GT VOID ignored).

    Args:
        ann_file (str, optional): COCO panoptic JSON (``categories`` with
            ``isthing``, ``annotations`` with ``segments_info``). GT areas
            and crowd flags come from it. Without it the dataset's
            ``segments_info`` are used and areas are counted in the PNG
            (mmdet's fallback).
        seg_prefix (str, optional): Folder of the GT PNGs named by the
            annotations' ``file_name``. If None, each data sample's
            ``seg_map_path`` is read.
        classwise (bool): Print a per-class table and return per-class
            ``{name}_PQ/SQ/RQ/TP/FP/FN`` (and ``{name}_IoU``).
        format_only (bool): Only write the COCO panoptic submission
            (``{outfile_prefix}.panoptic.json`` and PNGs in
            ``{outfile_prefix}.panoptic/``, category ids of ``ann_file``);
            no evaluation. Needs ``outfile_prefix``.
        outfile_prefix (str, optional): Where to write the submission. When
            given without ``format_only``, results are written and evaluated.
        backend_args (dict, optional): File backend arguments.
        collect_device (str): 'cpu' or 'gpu', for distributed collection.
        prefix (str, optional): Metric name prefix; ``coco_panoptic`` by
            default, so configs and hooks written for mmdet's metric keep
            working.
        gt_areas (str): GT segment areas for the IoU union: ``'json'`` the
            annotation file's ``area`` (panopticapi), ``'png'`` the pixels
            of the PNG. The first segment whose two differ is named in a
            warning.
    """
    default_prefix: Optional[str] = 'coco_panoptic'

    def __init__(self,
                 ann_file: Optional[str] = None,
                 seg_prefix: Optional[str] = None,
                 classwise: bool = False,
                 format_only: bool = False,
                 outfile_prefix: Optional[str] = None,
                 backend_args: Optional[dict] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None,
                 gt_areas: str = 'json') -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        if gt_areas not in ('json', 'png'):
            raise ValueError(f'gt_areas must be "json" (panopticapi) or '
                             f'"png", got {gt_areas!r}.')
        if format_only and outfile_prefix is None:
            raise ValueError('format_only=True needs outfile_prefix (where '
                             'the submission PNGs and JSON are written).')
        self.classwise = classwise
        self.format_only = format_only
        self.outfile_prefix = outfile_prefix
        self.seg_prefix = seg_prefix
        self.backend_args = backend_args
        self.gt_areas = gt_areas
        self._indexer = SegmentIdIndexer()
        self._area_warned = False
        self._backends: Dict[str, object] = {}

        self.categories: Optional[List[dict]] = None
        self._annotations: Dict = {}
        if ann_file is not None:
            coco = load(ann_file, backend_args=backend_args)
            if 'categories' not in coco:
                raise ValueError(f'{ann_file} has no "categories".')
            self.categories = coco['categories']
            for annotation in coco.get('annotations', []):
                self._annotations[annotation['image_id']] = annotation
            if not format_only and not self._annotations:
                raise ValueError(f'{ann_file} has no "annotations" to '
                                 f'evaluate against (use format_only=True '
                                 f'for an image-info file).')
        self.ann_file = ann_file
        self.num_classes = 0
        self.num_things_classes = 0
        self._cat_to_label: Dict[int, int] = {}
        self._label_to_cat: List[int] = []

    # ------------------------------------------------------------- classes
    @property
    def dataset_meta(self) -> Optional[dict]:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        self._dataset_meta = dataset_meta
        if dataset_meta is not None:
            self._check_classes(dataset_meta)

    def _check_classes(self, meta: dict) -> None:
        """Things first, and the same categories as the annotation file."""
        classes = tuple(meta.get('classes', ()))
        things = tuple(meta.get('thing_classes', ()))
        stuff = tuple(meta.get('stuff_classes', ()))
        if not classes or classes != things + stuff:
            raise ValueError(
                'PanopticMetric needs dataset_meta with classes = '
                'thing_classes + stuff_classes (things first, labels '
                f'[0, T) things and [T, C) stuff, as mmdet); got classes='
                f'{classes}, thing_classes={things}, stuff_classes={stuff}.')
        self.num_classes, self.num_things_classes = len(classes), len(things)
        if self.categories is None:
            self._label_to_cat = list(range(len(classes)))
            self._cat_to_label = {i: i for i in range(len(classes))}
            return
        by_name = {c['name']: c for c in self.categories}
        missing = [name for name in classes if name not in by_name]
        extra = sorted(set(by_name) - set(classes))
        if missing or extra:
            raise ValueError(
                f'The dataset classes and the categories of {self.ann_file} '
                f'differ: not in the file {missing}, not in the dataset '
                f'{extra}.')
        wrong = [
            name for i, name in enumerate(classes)
            if bool(by_name[name].get('isthing')) != (i < len(things))
        ]
        if wrong:
            raise ValueError(
                f'isthing in {self.ann_file} disagrees with the dataset\'s '
                f'thing_classes/stuff_classes for {wrong}; classes must be '
                f'things first, as the file says.')
        self._label_to_cat = [by_name[name]['id'] for name in classes]
        self._cat_to_label = {
            cat: label
            for label, cat in enumerate(self._label_to_cat)
        }

    # ------------------------------------------------------------ per image
    def _ground_truth(self, data_sample: dict):
        """(GT segments, PNG path) of one sample."""
        img_id = data_sample['img_id']
        if self.categories is not None:
            annotation = self._annotations.get(img_id)
            if annotation is None:
                raise KeyError(f'Image id {img_id!r} is not in the '
                               f'annotations of {self.ann_file}.')
            gt = segments_from_json(annotation['segments_info'],
                                    self._cat_to_label, str(img_id))
            if self.seg_prefix is not None:
                path = osp.join(self.seg_prefix, annotation['file_name'])
            else:
                path = data_sample['seg_map_path']
        else:  # mmdet's fallback: dataset segments, areas from the PNG
            infos = data_sample['segments_info']
            labels = np.array([s['category'] for s in infos], np.int64)
            gt = GroundTruthSegments(
                ids=np.array([s['id'] for s in infos], np.int64),
                labels=labels,
                areas=None,
                iscrowd=np.array([not s['is_thing'] for s in infos], bool)
                & (labels < self.num_things_classes))
            path = data_sample['seg_map_path']
            if self.seg_prefix is not None:
                path = osp.join(self.seg_prefix, osp.basename(path))
        return gt, path

    def _pred_map(self, data_sample: dict):
        pred = data_sample.get('pred_panoptic_seg')
        if pred is None:
            raise KeyError('PanopticMetric needs pred_panoptic_seg in the '
                           'data samples.')
        pan = _to_numpy(_field(pred, 'sem_seg'))
        if pan.ndim == 3 and pan.shape[0] == 1:
            pan = pan[0]
        if pan.ndim != 2:
            raise ValueError(f'pred_panoptic_seg.sem_seg must be (1, H, W); '
                             f'got shape {pan.shape}.')
        if pan.dtype.kind not in 'iu':
            raise ValueError(f'pred_panoptic_seg.sem_seg must hold integers '
                             f'(label + instance * {INSTANCE_OFFSET}); got '
                             f'{pan.dtype}.')
        ignore_index = _field(pred, 'ignore_index', None)
        void_labels = () if ignore_index is None else (int(ignore_index), )
        return pan, void_labels

    def _write_prediction(self, data_sample: dict, pan: np.ndarray,
                          void_labels) -> dict:
        """Write the COCO panoptic PNG of one prediction; its annotation."""
        values, areas = np.unique(pan, return_counts=True)
        if len(values) and values[0] < 0:
            raise ValueError(
                f'pred_panoptic_seg.sem_seg of image '
                f'{data_sample["img_id"]!r} has negative values.')
        labels = values % INSTANCE_OFFSET
        is_void = labels == self.num_classes
        for label in void_labels:
            is_void |= labels == label
        if (labels[~is_void] > self.num_classes).any():
            raise ValueError(f'pred_panoptic_seg has labels outside [0, '
                             f'{self.num_classes}]: {labels.tolist()}.')
        segment_id = np.zeros(len(values), np.int64)
        segment_id[~is_void] = np.arange(1, int((~is_void).sum()) + 1)
        id_map = segment_id[np.searchsorted(values, pan)]
        file_name = osp.splitext(osp.basename(
            data_sample['img_path']))[0] + '.png'
        ok, png = cv2.imencode('.png', id2rgb(id_map)[..., ::-1])
        if not ok:
            raise RuntimeError(f'Could not encode the PNG of {file_name}.')
        put(png.tobytes(),
            osp.join(f'{self.outfile_prefix}.panoptic', file_name),
            backend_args=self.backend_args)
        segments_info = [
            dict(
                id=int(segment_id[j]),
                category_id=int(self._label_to_cat[labels[j]]),
                iscrowd=0,
                area=int(areas[j])) for j in np.flatnonzero(~is_void)
        ]
        return dict(
            image_id=data_sample['img_id'],
            file_name=file_name,
            segments_info=segments_info)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Score each sample; keep only per-class sums (one result each)."""
        for data_sample in data_samples:
            self.results.append(self._score_sample(data_sample)[0])

    def _score_sample(self, data_sample: dict, with_rows: bool = False):
        """The result of one sample, and what it was computed from.

        Args:
            data_sample (dict): one data sample.
            with_rows (bool): also return the GT row of every pixel (for
                subclasses that need the pixels, not just the counts).

        Returns:
            tuple: the result dict and, with ``with_rows`` (or
            ``pred_sem_seg``), ``(image, gt_rows)``: the
            :class:`ImageSegments` counted and the (H, W) GT rows; None
            otherwise.
        """
        pan, void_labels = self._pred_map(data_sample)
        result = dict()
        if self.outfile_prefix is not None:
            result['annotation'] = self._write_prediction(
                data_sample, pan, void_labels)
        if self.format_only:
            return result, None

        gt, path = self._ground_truth(data_sample)
        png = read_panoptic_png(self._read(path), path)
        if map_shape(png) != pan.shape:
            raise ValueError(
                f'Prediction of image {data_sample["img_id"]!r} has shape '
                f'{pan.shape} but its GT {path} is {map_shape(png)}; '
                f'predict at the original size (ori_shape).')
        if self.gt_areas == 'png':
            gt = gt._replace(areas=None)
        pred_sem = data_sample.get('pred_sem_seg')
        decoded = None
        if with_rows or pred_sem is not None:
            if pan.size and pan.min() < 0:
                raise ValueError(
                    f'pred_panoptic_seg.sem_seg of image '
                    f'{data_sample["img_id"]!r} has negative values.')
            id_map = png if isinstance(png, np.ndarray) else png_ids(png)
            gt_rows = self._indexer.rows(id_map, gt.ids)
            joint, pred_values = panoptic_joint_histogram(
                gt_rows, FIRST_SEGMENT_ROW + len(gt.ids), pan)
            image = image_segments(joint, gt, pred_values, self.num_classes,
                                   void_labels)
            stats = match_segments(image.joint, image.gt, image.pred_labels,
                                   image.pred_is_void, self.num_classes)
            png_areas = joint[FIRST_SEGMENT_ROW:].sum(axis=1)
            decoded = (image, gt_rows)
        else:  # one pass over the PNG rows and the prediction
            try:
                gt_values, pred_values, counts = joint_histogram(png, pan)
            except ValueError as error:
                raise ValueError(
                    f'Image {data_sample["img_id"]!r} (GT {path}, '
                    f'prediction pred_panoptic_seg.sem_seg): {error}'
                ) from None
            pred_labels, pred_is_void = prediction_labels(
                pred_values, self.num_classes, void_labels)
            stats, png_areas = image_pq_stats(gt_values, counts, gt,
                                              pred_labels, pred_is_void,
                                              self.num_classes)
        if gt.areas is not None:
            self._check_areas(png_areas, gt, path)
        # one small array per image: (L, 5) label, TP, FP, FN, IoU sum
        # over the L classes it touches (integers exact in float64)
        result['pq'] = np.stack(
            [stats.labels, stats.tp, stats.fp, stats.fn, stats.iou],
            axis=1).astype(np.float64)

        if pred_sem is not None:
            result['semantic'] = self._semantic_stats(
                gt_rows, gt, _to_numpy(_field(pred_sem, 'sem_seg')))
        return result, decoded

    def _read(self, path: str) -> bytes:
        """The bytes of a GT PNG, through mmengine's file backend for its
        scheme (looked up once per scheme)."""
        scheme = path.split('://', 1)[0] if '://' in path else ''
        backend = self._backends.get(scheme)
        if backend is None:
            backend = get_file_backend(path, backend_args=self.backend_args)
            self._backends[scheme] = backend
        return backend.get(path)

    def _check_areas(self, png_areas: np.ndarray, gt: GroundTruthSegments,
                     path: str) -> None:
        """Warn (once) when a JSON ``area`` differs from the PNG pixels."""
        if self._area_warned:
            return
        differ = np.flatnonzero(png_areas != gt.areas)
        if len(differ):
            self._area_warned = True
            k = differ[0]
            warnings.warn(
                area_mismatch_message(path, int(gt.ids[k]),
                                      int(gt.areas[k]), int(png_areas[k]),
                                      self.ann_file, 'gt_areas="png"'))

    def _semantic_stats(self, gt_rows, gt, sem: np.ndarray):
        if sem.ndim == 3 and sem.shape[0] == 1:
            sem = sem[0]
        if sem.shape != gt_rows.shape or sem.dtype.kind not in 'iu':
            raise ValueError(
                f'pred_sem_seg.sem_seg must be (1, H, W) integer labels at '
                f'the GT size {gt_rows.shape}; got {sem.shape} {sem.dtype}.')
        if sem.size and (sem.min() < 0 or sem.max() >= self.num_classes):
            raise ValueError(
                f'pred_sem_seg labels must be in [0, {self.num_classes}) '
                f'(things first, as the dataset classes); got '
                f'[{sem.min()}, {sem.max()}].')
        row_labels = np.concatenate(
            [np.full(FIRST_SEGMENT_ROW, -1, np.int64), gt.labels])
        intersection, gt_area, pred_area = semantic_confusion(
            gt_rows, row_labels, sem, self.num_classes)
        labels = np.flatnonzero(gt_area + pred_area)
        # (L, 4) label, intersection, GT area, predicted area
        return np.stack(
            [labels, intersection[labels], gt_area[labels], pred_area[labels]],
            axis=1)

    # -------------------------------------------------------------- summary
    def compute_metrics(self, results: list) -> Dict[str, float]:
        logger: MMLogger = MMLogger.get_current_instance()
        if self.outfile_prefix is not None:
            json_file = f'{self.outfile_prefix}.panoptic.json'
            dump(
                dict(
                    annotations=[r['annotation'] for r in results],
                    categories=self.categories or []),
                json_file,
                backend_args=self.backend_args)
            print_log(
                f'Panoptic results written to {json_file} and '
                f'{self.outfile_prefix}.panoptic/',
                logger=logger)
        if self.format_only:
            return dict()

        num_classes = self.num_classes
        tp, fp, fn, iou = accumulate_image_stats(
            [_unpack_pq(r['pq']) for r in results], num_classes)
        is_thing = np.arange(num_classes) < self.num_things_classes
        groups = dict(All=None, Things=is_thing, Stuff=~is_thing)
        averages = {
            name: pq_average(tp, fp, fn, iou, mask)[0]
            for name, mask in groups.items()
        }
        per_class = pq_average(tp, fp, fn, iou)[1]

        metrics = dict()
        for name, suffix in (('All', ''), ('Things', '_th'), ('Stuff', '_st')):
            for key in ('pq', 'sq', 'rq'):
                metrics[key.upper() + suffix] = 100 * averages[name][key]

        semantic = [r['semantic'] for r in results if 'semantic' in r]
        class_iou = None
        if semantic:
            totals = np.zeros((3, num_classes), np.int64)
            for image in semantic:
                totals[:, image[:, 0]] += image[:, 1:].T
            intersection, gt_area, pred_area = totals
            union = gt_area + pred_area - intersection
            class_iou = np.where(union > 0,
                                 intersection / np.maximum(union, 1), np.nan)
            metrics['mIoU'] = 100 * float(np.nanmean(class_iou)) \
                if (union > 0).any() else 0.0

        self._print_tables(averages, metrics, per_class, tp, fp, fn, class_iou,
                           logger)
        if self.classwise:
            for label, name in enumerate(self.dataset_meta['classes']):
                for key in ('pq', 'sq', 'rq'):
                    metrics[f'{name}_{key.upper()}'] = \
                        100 * float(per_class[key][label])
                metrics[f'{name}_TP'] = int(tp[label])
                metrics[f'{name}_FP'] = int(fp[label])
                metrics[f'{name}_FN'] = int(fn[label])
                if class_iou is not None:
                    metrics[f'{name}_IoU'] = 100 * float(class_iou[label])
        return metrics

    def _print_tables(self, averages, metrics, per_class, tp, fp, fn,
                      class_iou, logger) -> None:
        rows = [['', 'PQ', 'SQ', 'RQ', 'categories']]
        for name, average in averages.items():
            rows.append(
                [name] +
                [f'{100 * average[k]:0.3f}'
                 for k in ('pq', 'sq', 'rq')] + [average['n']])
        table = 'Panoptic Evaluation Results:\n' + AsciiTable(rows).table
        if 'mIoU' in metrics:
            table += f'\nSemantic mIoU: {metrics["mIoU"]:0.3f}'
        print_log(table, logger=logger)
        if not self.classwise:
            return
        header = ['category', 'PQ', 'SQ', 'RQ', 'TP', 'FP', 'FN']
        if class_iou is not None:
            header.append('IoU')
        rows = [header]
        for label, name in enumerate(self.dataset_meta['classes']):
            row = [name] + [
                f'{100 * per_class[k][label]:0.3f}' for k in ('pq', 'sq', 'rq')
            ] + [int(tp[label]),
                 int(fp[label]),
                 int(fn[label])]
            if class_iou is not None:
                row.append(f'{100 * class_iou[label]:0.3f}')
            rows.append(row)
        print_log(
            'Classwise Panoptic Evaluation Results:\n' +
            AsciiTable(rows).table,
            logger=logger)
