"""Operators of mmpanoptic (registered in ``mmpanoptic.registry.MODELS``)."""
from .roi_upsample import (RoIUpsample, RoIUpsampleFunction,
                           compiled_kernel_available,
                           mmcv_kernel_available, roi_sample_geometry,
                           roi_upsample)

__all__ = [
    'RoIUpsample', 'RoIUpsampleFunction', 'roi_upsample',
    'roi_sample_geometry', 'mmcv_kernel_available', 'compiled_kernel_available'
]
