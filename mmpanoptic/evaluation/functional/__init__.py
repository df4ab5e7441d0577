from .panoptic_quality import (INSTANCE_OFFSET, GroundTruthSegments,
                               ImageSegments, PanopticImageStats,
                               SegmentIdIndexer, accumulate_image_stats,
                               count_image_segments, decode_panoptic_png,
                               false_positive_columns,
                               match_segments, matched_pairs,
                               panoptic_joint_histogram, pq_average,
                               pq_stats_single_image,
                               segments_from_json, semantic_confusion)
from .thing_errors import (THING_OUTCOMES, ThingErrors, box_iou,
                           segment_boxes, size_buckets, thing_errors)

__all__ = [
    'INSTANCE_OFFSET', 'GroundTruthSegments', 'ImageSegments',
    'PanopticImageStats', 'SegmentIdIndexer', 'THING_OUTCOMES',
    'ThingErrors', 'accumulate_image_stats', 'box_iou',
    'count_image_segments', 'decode_panoptic_png', 'false_positive_columns',
    'match_segments', 'matched_pairs',
    'panoptic_joint_histogram', 'pq_average', 'pq_stats_single_image',
    'segment_boxes', 'segments_from_json', 'semantic_confusion',
    'size_buckets', 'thing_errors'
]
