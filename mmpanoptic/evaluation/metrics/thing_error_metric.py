"""``ThingErrorMetric``: where a model's thing segments are lost.

The false negatives of PQ's thing classes sorted by cause (no detection,
detected below the panoptic cut-off, detected but lost in the fusion; see
:mod:`mmpanoptic.evaluation.functional.thing_errors`), recall by object
size and the false positives by size, next to the usual PQ tables (it is a
:class:`PanopticMetric`, with the same ground truth and checks). Used by
``tools/analysis_tools/analyze_thing_errors.py``; it can also be added to a
config's ``test_evaluator`` list.
"""
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.logging import MMLogger, print_log
from terminaltables import AsciiTable

from mmpanoptic.registry import METRICS
from ..functional.panoptic_quality import ImageSegments
from ..functional.thing_errors import (THING_OUTCOMES, size_buckets,
                                       thing_errors)
from .panoptic_metric import PanopticMetric, _field, _to_numpy


@METRICS.register_module()
class ThingErrorMetric(PanopticMetric):
    """PQ plus the causes of its thing false negatives and false positives.

    Args:
        cut_off (float, optional): the detection score needed to enter the
            panoptic output (e.g. the Unifying model's
            ``test_cfg.panoptic.score_thr``, mmdet's ``test_cfg.rcnn.
            score_thr`` for the heuristic merger); None: every returned
            detection enters.
        size_edges (Sequence[float]): edges of the size buckets, in sqrt(area)
            pixels. Defaults to COCO's small / medium / large (32, 96).
        **kwargs: :class:`PanopticMetric`'s arguments.
    """
    default_prefix: Optional[str] = 'thing_errors'

    def __init__(self,
                 cut_off: Optional[float] = None,
                 size_edges: Sequence[float] = (32, 96),
                 **kwargs) -> None:
        if kwargs.get('format_only'):
            raise ValueError('ThingErrorMetric compares with the ground '
                             'truth: format_only=True is not supported')
        super().__init__(**kwargs)
        if list(size_edges) != sorted(size_edges) or len(size_edges) == 0:
            raise ValueError(f'size_edges must be increasing, got '
                             f'{list(size_edges)}')
        self.cut_off = cut_off
        self.size_edges = tuple(float(e) for e in size_edges)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """PQ counts (as ``PanopticMetric``) and the thing errors of each
        sample, from the same decoded ground truth."""
        for data_sample in data_samples:
            result, (image, gt_rows) = self._score_sample(
                data_sample, with_rows=True)
            self._add_thing_errors(result, data_sample, image, gt_rows)
            self.results.append(result)

    def _add_thing_errors(self, result: dict, data_sample: dict,
                          image: ImageSegments, gt_rows: np.ndarray) -> None:
        """The thing errors of one sample, next to its PQ counts."""
        instances = data_sample.get('pred_instances')
        detections = dict()
        if instances is not None:
            detections = dict(
                det_boxes=_to_numpy(_field(instances, 'bboxes')),
                det_scores=_to_numpy(_field(instances, 'scores')),
                det_labels=_to_numpy(_field(instances, 'labels')))
        errors = thing_errors(
            image, gt_rows, self.num_things_classes, self.num_classes,
            cut_off=-np.inf if self.cut_off is None else self.cut_off,
            **detections)
        result['things'] = np.stack(
            [errors.gt_labels, errors.gt_sizes, errors.outcomes], axis=1)
        result['false_positives'] = np.stack(
            [errors.fp_labels, errors.fp_areas, errors.fp_best_iou], axis=1)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        metrics = super().compute_metrics(results)
        things = np.concatenate([r['things'] for r in results]) \
            if results else np.zeros((0, 3))
        false_positives = np.concatenate(
            [r['false_positives'] for r in results]) \
            if results else np.zeros((0, 3))
        sizes, outcomes = things[:, 1], things[:, 2].astype(np.int64)
        counts = np.bincount(outcomes, minlength=len(THING_OUTCOMES))
        for name, count in zip(THING_OUTCOMES, counts):
            metrics[name] = int(count)
        metrics['false_positives'] = len(false_positives)
        self._print_thing_tables(sizes, outcomes, false_positives)
        return metrics

    def _print_thing_tables(self, sizes: np.ndarray, outcomes: np.ndarray,
                            false_positives: np.ndarray) -> None:
        logger: MMLogger = MMLogger.get_current_instance()
        names, bucket = size_buckets(sizes, self.size_edges)
        rows = [['size (sqrt area)', 'GT things', 'recall %'] +
                list(THING_OUTCOMES[1:])]
        for index, name in enumerate(names + ['all']):
            chosen = outcomes[bucket == index] if name != 'all' else outcomes
            counts = np.bincount(chosen, minlength=len(THING_OUTCOMES))
            recall = f'{100 * counts[0] / len(chosen):.1f}' \
                if len(chosen) else '-'
            rows.append([name, len(chosen), recall] +
                        [int(c) for c in counts[1:]])
        fp_names, fp_bucket = size_buckets(
            np.sqrt(false_positives[:, 1]), self.size_edges)
        fp_rows = [['size (sqrt area)', 'false positives',
                    'overlapping a GT of their class']]
        for index, name in enumerate(fp_names + ['all']):
            chosen = false_positives[fp_bucket == index] \
                if name != 'all' else false_positives
            fp_rows.append(
                [name, len(chosen), int((chosen[:, 2] > 0).sum())])
        cut_off = 'none' if self.cut_off is None else f'{self.cut_off:g}'
        print_log(
            f'Thing false negatives by cause (panoptic cut-off {cut_off}; '
            '"missed": the model returned no detections to tell):\n' +
            AsciiTable(rows).table + '\nThing false positives:\n' +
            AsciiTable(fp_rows).table,
            logger=logger)
