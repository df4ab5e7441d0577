from .cityscapes_panoptic import CityscapesPanopticDataset
from .coco_panoptic import CocoPanopticDataset, PanopticDataError
from .synthetic_generator import (SYNTHETIC_CATEGORIES, SYNTHETIC_METAINFO,
                                  make_panoptic_sample,
                                  write_synthetic_panoptic)
from .synthetic_panoptic import SyntheticPanopticDataset
from .transforms import LoadPanopticAnnotations

__all__ = [
    'CityscapesPanopticDataset', 'CocoPanopticDataset', 'PanopticDataError',
    'LoadPanopticAnnotations', 'SyntheticPanopticDataset',
    'SYNTHETIC_CATEGORIES', 'SYNTHETIC_METAINFO',
    'make_panoptic_sample', 'write_synthetic_panoptic'
]
