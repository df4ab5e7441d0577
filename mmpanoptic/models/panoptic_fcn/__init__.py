"""Panoptic FCN parts: kernel generator, feature encoder, kernel fusion,
target generation, post-processing and the head that wires them."""
from .feature_encoder import FeatureEncoder, SemanticFPNFeature
from .head import PanopticFCNHead
from .kernel_generator import KernelHead, PositionHead

__all__ = [
    'FeatureEncoder', 'SemanticFPNFeature', 'PanopticFCNHead', 'KernelHead',
    'PositionHead'
]
