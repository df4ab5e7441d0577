"""Models, one folder per method (upsnet, aunet, unifying, panoptic_fcn);
``building_blocks`` holds what two or more of them use."""
from . import aunet, building_blocks, panoptic_fcn, unifying, upsnet  # noqa
from .aunet import AUNet
from .panoptic_fcn import PanopticFCN
from .unifying import UnifyingPanopticSegmentor
from .upsnet import UPSNet

__all__ = ['UPSNet', 'AUNet', 'UnifyingPanopticSegmentor', 'PanopticFCN']
