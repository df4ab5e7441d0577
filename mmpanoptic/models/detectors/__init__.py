from .aunet import AUNet  # noqa: F401
from .panoptic_fcn import PanopticFCN  # noqa: F401
