"""Panoptic FCN (Li et al., CVPR 2021): detector, kernel generator, feature
encoder, kernel fusion, target generation, post-processing, the weighted
Dice loss and the head that wires them."""
from .feature_encoder import FeatureEncoder, SemanticFPNFeature
from .head import PanopticFCNHead
from .kernel_generator import KernelHead, PositionHead
from .panoptic_fcn import PanopticFCN
from .weighted_dice_loss import WeightedDiceLoss

__all__ = [
    'PanopticFCN', 'PanopticFCNHead', 'FeatureEncoder', 'SemanticFPNFeature',
    'KernelHead', 'PositionHead', 'WeightedDiceLoss'
]
