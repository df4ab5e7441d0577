from .aunet_semantic_head import AUNetSemanticHead  # noqa: F401
