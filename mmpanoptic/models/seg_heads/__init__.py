from .upsnet_semantic_head import UPSNetSemanticHead  # noqa: F401
from .aunet_semantic_head import AUNetSemanticHead  # noqa: F401
