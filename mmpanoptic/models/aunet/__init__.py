"""AUNet (Li et al., CVPR 2019): detector, BG-branch semantic head, PAM and
MAM attention, the RPN head with GN and the inference fusion."""
from .attention import (BackgroundReweight, MaskAttention, ProposalAttention,
                        SpatialBackgroundAttention, fpn_levels_of_rois,
                        mask_features_to_levels, merge_level_maps,
                        roi_coverage_counts)
from .aunet import AUNet
from .fusion import AUNetFusionHead
from .rpn_head import NormRPNHead
from .semantic_head import AUNetSemanticHead

__all__ = [
    'AUNet', 'AUNetSemanticHead', 'AUNetFusionHead', 'NormRPNHead',
    'BackgroundReweight', 'SpatialBackgroundAttention', 'ProposalAttention',
    'MaskAttention', 'fpn_levels_of_rois', 'mask_features_to_levels',
    'merge_level_maps', 'roi_coverage_counts'
]
