from .panoptic_png import (PngRows, compiled_counting_available,
                           decode_panoptic_png, joint_histogram, png_ids,
                           read_panoptic_png)
from .panoptic_quality import (INSTANCE_OFFSET, GroundTruthSegments,
                               ImageSegments, PanopticImageStats,
                               SegmentIdIndexer, accumulate_image_stats,
                               area_mismatch_message, count_image_segments,
                               false_positive_columns, image_segments,
                               match_segments, matched_pairs,
                               panoptic_joint_histogram, pq_average,
                               pq_stats_single_image, segment_rows,
                               segments_from_json, semantic_confusion)
from .thing_errors import (THING_OUTCOMES, ThingErrors, box_iou,
                           segment_boxes, size_buckets, thing_errors)

__all__ = [
    'INSTANCE_OFFSET', 'GroundTruthSegments', 'ImageSegments',
    'PanopticImageStats', 'PngRows', 'SegmentIdIndexer', 'THING_OUTCOMES',
    'ThingErrors', 'accumulate_image_stats', 'area_mismatch_message',
    'box_iou', 'compiled_counting_available', 'count_image_segments',
    'decode_panoptic_png', 'false_positive_columns', 'image_segments',
    'joint_histogram', 'match_segments', 'matched_pairs',
    'panoptic_joint_histogram', 'png_ids', 'pq_average',
    'pq_stats_single_image', 'read_panoptic_png', 'segment_boxes',
    'segment_rows', 'segments_from_json', 'semantic_confusion',
    'size_buckets', 'thing_errors'
]
