"""Attention layers: AUNet's PAM, MAM and background reweight."""
from .background_reweight import BackgroundReweight
from .mask_attention import (MaskAttention, fpn_levels_of_rois,
                             mask_features_to_levels)
from .proposal_attention import ProposalAttention
from .spatial_background_attention import SpatialBackgroundAttention

__all__ = [
    'BackgroundReweight', 'SpatialBackgroundAttention', 'ProposalAttention',
    'MaskAttention', 'fpn_levels_of_rois', 'mask_features_to_levels'
]
