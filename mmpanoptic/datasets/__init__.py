from .cityscapes_panoptic import CityscapesPanopticDataset  # noqa: F401
from .synthetic_dataset import SyntheticPanopticDataset
from .synthetic_panoptic import (SYNTHETIC_CATEGORIES, SYNTHETIC_METAINFO,
                                 make_panoptic_sample,
                                 write_synthetic_panoptic)

__all__ = [
    'SyntheticPanopticDataset', 'SYNTHETIC_CATEGORIES', 'SYNTHETIC_METAINFO',
    'make_panoptic_sample', 'write_synthetic_panoptic'
]
