from . import detectors, layers, losses, necks, panoptic_fcn  # noqa: F401
from . import panoptic_heads, seg_heads, test_time_augs  # noqa: F401
