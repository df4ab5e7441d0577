"""Operators of mmpanoptic (registered in ``mmpanoptic.registry.MODELS``;
the deformable conv as mmcv conv type ``DCNGridSample``)."""
from .deform_conv import (GridSampleDeformConv2dPack,
                          GridSampleModulatedDeformConv2dPack,
                          deform_conv2d_grid_sample)
from .resample import (compiled_resample_available, upsample_argmax,
                       upsample_threshold)
from .roi_upsample import (RoIUpsample, RoIUpsampleFunction,
                           compiled_kernel_available, mmcv_kernel_available,
                           roi_axis_footprints, roi_sample_geometry,
                           roi_upsample)

__all__ = [
    'GridSampleDeformConv2dPack', 'GridSampleModulatedDeformConv2dPack',
    'deform_conv2d_grid_sample',
    'RoIUpsample', 'RoIUpsampleFunction', 'roi_upsample',
    'roi_sample_geometry', 'roi_axis_footprints', 'mmcv_kernel_available',
    'compiled_kernel_available', 'upsample_argmax', 'upsample_threshold',
    'compiled_resample_available'
]
