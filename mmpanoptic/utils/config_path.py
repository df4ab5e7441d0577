"""Find a config by path or by name among mmpanoptic's configs."""
import os
import os.path as osp
from typing import List, Optional


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


def add_checkpoint_run_args(parser) -> None:
    """Add the arguments of a tool that runs a checkpoint on a config's test
    split: ``config`` and ``checkpoint`` (positional), ``--work-dir`` and
    ``--cfg-options`` (what :func:`load_run_config` takes)."""
    from mmengine.config import DictAction
    parser.add_argument('config', help='config file or mmpanoptic name')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='where the logs go (default: work_dirs/CONFIG)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')


def add_size_edges_arg(parser) -> None:
    """Add ``--size-edges`` (floats, default COCO's 32 and 96): the edges
    of the object-size buckets of the analysis tools, in sqrt(area)
    pixels (:func:`mmpanoptic.evaluation.functional.size_buckets`)."""
    parser.add_argument(
        '--size-edges',
        type=float,
        nargs='+',
        default=[32, 96],
        help='size bucket edges in sqrt(area) pixels (default: COCO small/'
        'medium/large)')


def load_run_config(config: str,
                    cfg_options: Optional[dict] = None,
                    launcher: str = 'none',
                    work_dir: Optional[str] = None):
    """The config of a train/test run, as mmdet's tools build it.

    ``config`` is a path or an mmpanoptic config name; ``cfg_options``
    override it; ``work_dir`` is the CLI's, else the config's, else
    ``./work_dirs/<config name>``.
    """
    from mmengine.config import Config
    path = find_config(config)
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(path))[0])
    return cfg
