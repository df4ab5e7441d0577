from .se_fpn import SEFPN

__all__ = ['SEFPN']
from .global_context_fpn import GlobalContextFPN  # noqa: F401
