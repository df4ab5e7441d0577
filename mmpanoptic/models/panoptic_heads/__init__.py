from .aunet_fusion import AUNetFusionHead  # noqa: F401
