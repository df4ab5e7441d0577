"""Make mmpanoptic's tools and configs visible to ``mim``.

``mim train mmpanoptic CONFIG`` looks under ``<dist location>/mmpanoptic``
(following links) for ``tools/train.py`` and a file named ``CONFIG``. Two
things stand in the way for an editable install, both handled here:

1. ``mmpanoptic/.mim`` must hold ``tools``, ``configs`` and
   ``model-index.yml`` (:func:`add_mim_extension`, called by setup.py for
   ``develop``, PEP 660 ``editable_wheel``, ``sdist`` and ``bdist_wheel``).
   In link mode it also holds ``config_names/<name>`` links without the
   ``.py`` suffix, so ``mim train mmpanoptic <name>`` works by plain name.
2. For a PEP 660 editable install the dist location is site-packages, where
   no ``mmpanoptic`` directory exists. setup.py copies this file into
   site-packages next to ``mmpanoptic-mim.pth``, whose line calls
   :func:`link` at interpreter start: it creates the symlink
   ``<site-packages>/mmpanoptic -> <checkout>/mmpanoptic`` once. Importing
   through the link loads the very same files, so edits stay live.

Standard library only: it runs in setup.py and before site-packages is set up.
Run as a script (``python mmpanoptic/utils/mim_link.py``) it refreshes the
links of a checkout (``make install`` does, so new configs get a name link).
"""
import os
import os.path as osp
import shutil
import sys

MIM_ITEMS = ('tools', 'configs', 'model-index.yml')


def link(package_dir: str) -> None:
    """Create ``<site-packages>/mmpanoptic`` pointing at ``package_dir``.

    Does nothing when the link (or a real installed package) is already
    there, when the source tree is gone, or when site-packages is read-only.
    """
    target = osp.join(osp.dirname(osp.abspath(__file__)), 'mmpanoptic')
    if osp.lexists(target) or not osp.isdir(package_dir):
        return
    try:
        os.symlink(package_dir, target, target_is_directory=True)
    except OSError:
        pass


def _remove(path: str) -> None:
    if osp.islink(path) or osp.isfile(path):
        os.remove(path)
    elif osp.isdir(path):
        shutil.rmtree(path)


def add_mim_extension(repo_root: str, mode: str) -> None:
    """Populate ``<repo_root>/mmpanoptic/.mim``.

    Args:
        repo_root: The checkout (holds ``mmpanoptic/``, ``configs/``, ...).
        mode: 'symlink' (editable installs: edits stay visible) or 'copy'
            (wheels and sdists: the files travel with the package).
    """
    mim_dir = osp.join(repo_root, 'mmpanoptic', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for item in MIM_ITEMS + ('config_names', ):
        _remove(osp.join(mim_dir, item))
    for item in MIM_ITEMS:
        src = osp.join(repo_root, item)
        dst = osp.join(mim_dir, item)
        if not osp.exists(src):
            continue
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_dir), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)
    if mode != 'symlink':
        return
    names_dir = osp.join(mim_dir, 'config_names')
    os.makedirs(names_dir)
    configs = osp.join(repo_root, 'configs')
    for dirpath, _, filenames in os.walk(configs):
        if '_base_' in osp.relpath(dirpath, configs).split(os.sep):
            continue
        for filename in filenames:
            name, ext = osp.splitext(filename)
            alias = osp.join(names_dir, name)
            if ext == '.py' and not osp.lexists(alias):
                os.symlink(
                    osp.relpath(osp.join(dirpath, filename), names_dir),
                    alias)


if __name__ == '__main__':
    root = sys.argv[1] if len(sys.argv) > 1 else osp.dirname(
        osp.dirname(osp.dirname(osp.abspath(__file__))))
    add_mim_extension(root, 'symlink')
