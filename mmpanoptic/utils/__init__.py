from .panoptic_ids import id2rgb, rgb2id
from .setup_env import register_all_modules
from .version_check import check_openmmlab_versions

__all__ = [
    'id2rgb', 'rgb2id', 'register_all_modules', 'check_openmmlab_versions'
]
