from . import detectors, layers, panoptic_heads, seg_heads  # noqa: F401
