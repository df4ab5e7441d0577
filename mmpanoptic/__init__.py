"""mmpanoptic: panoptic segmentation methods as an OpenMMLab plugin."""
from .utils.version_check import check_openmmlab_versions
from .version import __version__, version_info

check_openmmlab_versions()

from .utils.checkpoint_safe_globals import \
    allow_mmengine_checkpoint_globals  # noqa: E402

allow_mmengine_checkpoint_globals()

__all__ = ['__version__', 'version_info']
