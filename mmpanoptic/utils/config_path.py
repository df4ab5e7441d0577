"""Find a config by path or by name among mmpanoptic's configs."""
import os
import os.path as osp
from typing import List


def config_roots() -> List[str]:
    """Folders that hold mmpanoptic's configs: the installed package's
    ``.mim/configs`` and, in a source checkout, ``<repo>/configs``."""
    package_dir = osp.dirname(osp.dirname(osp.abspath(__file__)))
    roots = [
        osp.join(package_dir, '.mim', 'configs'),
        osp.join(osp.dirname(package_dir), 'configs')
    ]
    return [r for r in roots if osp.isdir(r)]


def find_config(config: str) -> str:
    """Return ``config`` if it is a file, else the path of the packaged
    config whose file name is ``config`` (``.py`` optional).

    Raises:
        FileNotFoundError: naming the config and where it was looked for.
    """
    if osp.isfile(config):
        return config
    name = osp.basename(config)
    if not name.endswith('.py'):
        name += '.py'
    matches = []
    for root in config_roots():
        for dirpath, _, filenames in os.walk(root, followlinks=True):
            if name in filenames and '_base_' not in dirpath:
                matches.append(osp.realpath(osp.join(dirpath, name)))
    matches = sorted(set(matches))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise FileNotFoundError(
            f'Config {config!r} is neither a file nor the name of an '
            f'mmpanoptic config (searched {config_roots()}).')
    raise FileNotFoundError(
        f'Config name {config!r} is ambiguous: {matches}. Pass a path.')
