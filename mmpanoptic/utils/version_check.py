"""Check that the installed OpenMMLab stack is one mmpanoptic works with."""
from importlib import metadata
from typing import Dict, Optional, Tuple

from packaging.version import Version

# package -> (minimum inclusive, maximum exclusive)
SUPPORTED_RANGES: Dict[str, Tuple[str, str]] = {
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


def version_problems(installed: Dict[str, Optional[str]],
                     ranges: Dict[str, Tuple[str, str]] = SUPPORTED_RANGES
                     ) -> list:
    """One human-readable line per package outside its supported range."""
    problems = []
    for package, (low, high) in ranges.items():
        found = installed.get(package)
        wanted = f'{package}>={low},<{high}'
        if found is None:
            problems.append(f'{package} is not installed; mmpanoptic needs '
                            f'{wanted}.')
        elif not Version(low) <= Version(found) < Version(high):
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
            'mmpanoptic cannot run with the installed OpenMMLab packages:\n  '
            + '\n  '.join(problems) +
            '\nRun `make install` in the mmpanoptic checkout (it installs the '
            'pinned stack of requirements/*.txt into .venv), or install the '
            'versions above by hand (mmcv must be built with its ops: '
            '`MMCV_WITH_OPS=1 pip install --no-build-isolation mmcv==2.1.0`).')
