from .aunet import AUNet  # noqa: F401
