from .local_visualizer import PanopticLocalVisualizer
from .panoptic_drawing import (blend_panoptic, class_shades,
                               panoptic_from_annotations, segment_boundaries,
                               segment_colors)

__all__ = [
    'PanopticLocalVisualizer', 'blend_panoptic', 'class_shades',
    'panoptic_from_annotations', 'segment_boundaries', 'segment_colors'
]
