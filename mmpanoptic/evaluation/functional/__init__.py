from .panoptic_quality import (INSTANCE_OFFSET, GroundTruthSegments,
                               PanopticImageStats, SegmentIdIndexer,
                               accumulate_image_stats, decode_panoptic_png,
                               id_to_rgb, match_segments,
                               panoptic_joint_histogram, pq_average,
                               pq_stats_single_image, rgb_to_id,
                               segments_from_json, semantic_confusion)

__all__ = [
    'INSTANCE_OFFSET', 'GroundTruthSegments', 'PanopticImageStats',
    'SegmentIdIndexer', 'accumulate_image_stats', 'decode_panoptic_png',
    'id_to_rgb', 'match_segments', 'panoptic_joint_histogram', 'pq_average',
    'pq_stats_single_image', 'rgb_to_id', 'segments_from_json',
    'semantic_confusion'
]
