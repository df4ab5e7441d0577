"""The Unifying model (Li, Qi, Torr, CVPR 2020): detector, dynamic
potential, dense instance affinity, panoptic matching loss, panoptic head
(argmax inference), SE-FPN and the RoI-mask Lovasz loss."""
from .dense_affinity import DenseAffinityHead
from .dynamic_potential import DynamicPotentialHead
from .lovasz_mask_loss import RoIMaskLovaszHingeLoss
from .panoptic_head import UnifyingPanopticHead
from .panoptic_matching import PanopticMatchingLoss
from .se_fpn import SEFPN
from .unifying import UnifyingPanopticSegmentor

__all__ = [
    'UnifyingPanopticSegmentor', 'UnifyingPanopticHead',
    'DynamicPotentialHead', 'DenseAffinityHead', 'PanopticMatchingLoss',
    'SEFPN', 'RoIMaskLovaszHingeLoss'
]
