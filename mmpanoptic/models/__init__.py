from . import detectors, layers, losses, panoptic_fcn  # noqa: F401
from . import panoptic_heads, seg_heads  # noqa: F401
