"""mmpanoptic: panoptic segmentation methods as an OpenMMLab plugin.

Importing the package does not import torch: the evaluation functions
(``mmpanoptic.evaluation.functional``) and ``eval_panoptic.py`` run without
it. The registries (``mmpanoptic.registry``) load the OpenMMLab stack.
"""
from .utils.version_check import check_openmmlab_versions
from .version import __version__, version_info

check_openmmlab_versions()

__all__ = ['__version__', 'version_info']
