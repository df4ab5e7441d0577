"""Check that the installed torch and OpenMMLab stack are ones mmpanoptic
works with."""
from importlib import metadata
from typing import Dict, Optional, Tuple

from packaging.version import Version

# (minimum inclusive, maximum exclusive or None for no maximum)
VersionRange = Tuple[str, Optional[str]]

# torch from 2.0: the oldest torch with a prebuilt mmcv 2.1.0 wheel for CUDA
# 11.8 (Hopper GPUs need it), and every torch API mmpanoptic uses exists in
# 2.0 (docs/install_gpu.md); tested with 2.13.
SUPPORTED_RANGES: Dict[str, VersionRange] = {
    'torch': ('2.0.0', None),
    'mmengine': ('0.10.0', '1.0.0'),
    'mmcv': ('2.1.0', '2.2.0'),
    'mmdet': ('3.3.0', '3.4.0'),
}


def installed_version(package: str) -> Optional[str]:
    """Version string of an installed distribution, or None if missing."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def version_problems(
        installed: Dict[str, Optional[str]],
        ranges: Dict[str, VersionRange] = SUPPORTED_RANGES) -> list:
    """One human-readable line per package outside its supported range.

    Local and pre-release labels count as their release: torch
    ``2.1.0+cu121`` is 2.1.0, and so is a container's ``2.1.0a0+32f93b1``.
    """
    problems = []
    for package, (low, high) in ranges.items():
        found = installed.get(package)
        wanted = f'{package}>={low}' + (f',<{high}' if high else '')
        if found is None:
            problems.append(f'{package} is not installed; mmpanoptic needs '
                            f'{wanted}.')
            continue
        release = Version(Version(found).base_version)
        if release < Version(low) or (high and release >= Version(high)):
            problems.append(f'{package}=={found} is installed; mmpanoptic '
                            f'needs {wanted}.')
    return problems


def check_openmmlab_versions(
        installed: Optional[Dict[str, Optional[str]]] = None) -> None:
    """Raise ImportError naming every package with an unsupported version."""
    if installed is None:
        installed = {
            name: installed_version(name)
            for name in SUPPORTED_RANGES
        }
    problems = version_problems(installed)
    if problems:
        raise ImportError(
            'mmpanoptic cannot run with the installed packages:\n  ' +
            '\n  '.join(problems) +
            '\nRun `make install` in the mmpanoptic checkout (it installs the '
            'pinned CPU stack of requirements/*.txt into .venv), or install '
            'the versions above by hand (mmcv must be built with its ops: '
            '`MMCV_WITH_OPS=1 pip install --no-build-isolation mmcv==2.1.0`; '
            'for GPUs see docs/install_gpu.md).')
