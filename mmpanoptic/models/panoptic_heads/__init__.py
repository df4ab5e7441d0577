from .upsnet_panoptic_head import UPSNetPanopticHead  # noqa: F401
from .dense_affinity_head import DenseAffinityHead  # noqa: F401
from .dynamic_potential_head import DynamicPotentialHead  # noqa: F401
from .aunet_fusion import AUNetFusionHead  # noqa: F401
