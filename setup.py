"""Packaging for mmpanoptic.

Besides the usual metadata this does what OpenMMLab packages do for `mim`:
tools/, configs/ and model-index.yml are made available under
``mmpanoptic/.mim`` (symlinks for editable installs, copies for wheels), so
``mim train mmpanoptic <config>`` finds both the scripts and the configs.

Modern ``pip install -e .`` runs setuptools' PEP 660 ``editable_wheel``
command, not ``develop``: mmdet's ``add_mim_extension`` only looks for
``develop`` and so never creates ``.mim`` there. We hook ``editable_wheel``
too, and ship a ``.pth`` hook that makes the package directory visible where
``mim`` looks for it (``<site-packages>/mmpanoptic``); see
``mmpanoptic/utils/mim_link.py``.

Supported versions: Python >= 3.8 (no newer syntax or standard library is
used; tested with 3.11), torch >= 2.0 (tested with 2.13), mmcv 2.1.x built
with its ops, mmdet 3.3.x, mmengine 0.10.x, mmsegmentation 1.2.x. As in
OpenMMLab's own packages, torch is not an install requirement and the
OpenMMLab packages are the ``mim`` extra (requirements/mminstall.txt): torch
is installed first, as the build for the machine's CUDA, and mmcv is built
against it (docs/install_gpu.md). ``import mmpanoptic`` checks the torch,
mmcv, mmdet and mmengine versions (mmpanoptic/utils/version_check.py).
"""
import importlib.util
import os
import os.path as osp
import sys

from setuptools import Extension, find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def _load_mim_link():
    """mmpanoptic/utils/mim_link.py, loaded without importing mmpanoptic."""
    spec = importlib.util.spec_from_file_location(
        'mmpanoptic_mim_link',
        osp.join(HERE, 'mmpanoptic', 'utils', 'mim_link.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def readme() -> str:
    with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
        return f.read()


def get_version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'mmpanoptic', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname: str) -> list:
    """Requirement lines of ``requirements/<fname>`` (comments dropped)."""
    reqs = []
    with open(osp.join(HERE, 'requirements', fname)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


if any(cmd in sys.argv for cmd in ('develop', 'editable_wheel')):
    _load_mim_link().add_mim_extension(HERE, 'symlink')
elif any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'build')):
    _load_mim_link().add_mim_extension(HERE, 'copy')

cmdclass = {}
try:
    from setuptools.command.editable_wheel import editable_wheel

    class EditableWheelWithMimLink(editable_wheel):
        """PEP 660 editable wheel that also carries ``mmpanoptic-mim.pth``.

        ``mim`` resolves a package as ``<dist location>/<name>``; for a PEP 660
        install the dist location is site-packages, where no ``mmpanoptic``
        directory exists. The ``.pth`` line (run by ``site`` at interpreter
        start) links ``<site-packages>/mmpanoptic`` to this source package
        once; see ``mmpanoptic/utils/mim_link.py``.
        """

        def _select_strategy(self, name, tag, build_lib):
            strategy = super()._select_strategy(name, tag, build_lib)
            return _WithMimLink(strategy, osp.join(HERE, 'mmpanoptic'))

    class _WithMimLink:
        """Wraps a setuptools editable strategy; adds the mim link hook."""

        def __init__(self, strategy, package_dir: str):
            self.strategy = strategy
            self.package_dir = package_dir

        def __call__(self, wheel, files, mapping):
            self.strategy(wheel, files, mapping)
            with open(osp.join(self.package_dir, 'utils', 'mim_link.py')) as f:
                wheel.writestr('mmpanoptic_mim_link.py', f.read())
            wheel.writestr(
                'mmpanoptic-mim.pth',
                'import mmpanoptic_mim_link; '
                f'mmpanoptic_mim_link.link({self.package_dir!r})\n')

        def __enter__(self):
            self.strategy.__enter__()
            return self

        def __exit__(self, *exc):
            return self.strategy.__exit__(*exc)

    cmdclass['editable_wheel'] = EditableWheelWithMimLink
except ImportError:  # setuptools < 64: `develop` is used, handled above
    pass


def _build_cuda_extension(torch) -> bool:
    """Whether to build the CUDA kernels: where torch has CUDA and a GPU and
    the CUDA toolkit is found, or when forced with FORCE_CUDA=1 (a build
    machine without a GPU; torch must still be a CUDA build)."""
    from torch.utils.cpp_extension import CUDA_HOME
    if os.getenv('FORCE_CUDA', '0') == '1':
        if torch.version.cuda is None or CUDA_HOME is None:
            raise RuntimeError(
                'FORCE_CUDA=1 needs a CUDA build of torch (torch.version.cuda '
                f'is {torch.version.cuda}) and the CUDA toolkit (CUDA_HOME is '
                f'{CUDA_HOME})')
        return True
    return (torch.version.cuda is not None and torch.cuda.is_available()
            and CUDA_HOME is not None)


def get_extensions() -> list:
    """Compiled kernels: C++ CPU kernels of RoIUpsample and of
    upsample-and-decide for post-processing (mmpanoptic.ops), RoIUpsample's
    CUDA kernels where CUDA is available, and the panoptic joint histogram
    that counts PNG rows as it unfilters them
    (mmpanoptic.evaluation.functional); the pure-PyTorch paths in
    mmpanoptic/ops/roi_upsample.py and resample.py and the numpy path of
    mmpanoptic/evaluation/functional/panoptic_png.py stay the
    reference/fallback."""
    try:
        import torch
        from torch.utils.cpp_extension import (BuildExtension, CppExtension,
                                               CUDAExtension, include_paths)
    except ImportError:  # torch absent at build time: pure-PyTorch ops only
        return []
    cmdclass['build_ext'] = BuildExtension
    extensions = [
        CppExtension(
            'mmpanoptic.ops._roi_upsample_ext',
            ['mmpanoptic/ops/csrc/roi_upsample_cpu.cpp'],
            extra_compile_args=['-O3']),
        CppExtension(
            'mmpanoptic.ops._resample_ext',
            ['mmpanoptic/ops/csrc/resample_cpu.cpp'],
            extra_compile_args=['-O3']),
        # pybind11 only (torch ships its headers), not linked to libtorch:
        # eval_panoptic.py loads it without importing torch
        Extension(
            'mmpanoptic.evaluation.functional._panoptic_count_ext',
            ['mmpanoptic/evaluation/functional/csrc/panoptic_count_cpu.cpp'],
            include_dirs=[include_paths()[0]],
            language='c++',
            extra_compile_args=['-O3', '-std=c++17'])
    ]
    if _build_cuda_extension(torch):
        extensions.append(
            CUDAExtension(
                'mmpanoptic.ops._roi_upsample_cuda_ext',
                ['mmpanoptic/ops/csrc/roi_upsample_cuda.cu'],
                extra_compile_args=dict(cxx=['-O3'], nvcc=['-O3'])))
    return extensions


setup(
    name='mmpanoptic',
    version=get_version(),
    description='OpenMMLab plugin for panoptic segmentation: UPSNet, '
    'AUNet, Unifying training and inference, Panoptic FCN',
    long_description=readme(),
    long_description_content_type='text/markdown',
    keywords='computer vision, panoptic segmentation, openmmlab',
    packages=find_packages(
        exclude=('configs', 'tools', 'tests', 'tests.*', 'docs')),
    include_package_data=True,
    python_requires='>=3.8',
    license='Apache License 2.0',
    install_requires=parse_requirements('runtime.txt'),
    extras_require={
        'tests': parse_requirements('tests.txt'),
        'mim': parse_requirements('mminstall.txt'),
        'deploy': parse_requirements('deploy.txt'),
    },
    ext_modules=get_extensions(),
    cmdclass=cmdclass,
    zip_safe=False,
)
