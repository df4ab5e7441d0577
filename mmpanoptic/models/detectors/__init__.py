from .panoptic_fcn import PanopticFCN  # noqa: F401
from .unifying import UnifyingPanopticSegmentor  # noqa: F401
from .upsnet import UPSNet  # noqa: F401
from .aunet import AUNet  # noqa: F401
