"""Run RoIUpsample's CUDA tests and its CUDA benchmark on a GPU machine.

With the OpenMMLab stack installed (``make install`` on a CUDA machine),
this is ``pytest tests/test_ops/test_roi_upsample_cuda.py`` followed by
``.dev_scripts/benchmark_ops.py --device cuda``. On a GPU machine
that has torch (and torchvision) but not mmengine/mmcv/mmdet, mmpanoptic's
package ``__init__`` files cannot be imported (they check the OpenMMLab
versions, and ``mmpanoptic.ops`` imports mmcv's deformable convs), so this
script loads ``mmpanoptic/ops/roi_upsample.py`` and the compiled extensions
straight from the checkout: it stands in for the two package modules and
for the model registry (whose ``register_module`` only records the class).
Everything the tests exercise (the op, its kernels, the reference) is the
checkout's own code.

Build the extensions first (in the repository root)::

    python setup.py build_ext --inplace     # CUDA kernels where CUDA is
    python .dev_scripts/run_cuda_op_tests.py  # then the tests and benchmark

Exit status: pytest's, or 1 if the benchmark fails.
"""
import argparse
import importlib
import importlib.util
import os.path as osp
import sys
import types

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


class _RecordingRegistry:
    """Stands in for ``mmpanoptic.registry.MODELS``: records the classes
    that ``mmpanoptic/ops/roi_upsample.py`` registers."""

    def __init__(self):
        self.module_dict = {}

    def register_module(self, name=None, force=False, module=None):

        def register(cls):
            self.module_dict[name or cls.__name__] = cls
            return cls

        return register(module) if module is not None else register


def load_ops_without_openmmlab() -> None:
    """Make ``mmpanoptic.ops.roi_upsample`` importable without mmengine,
    mmcv and mmdet (see the module docstring)."""
    for name, path in (('mmpanoptic', 'mmpanoptic'),
                       ('mmpanoptic.ops', osp.join('mmpanoptic', 'ops'))):
        package = types.ModuleType(name)
        package.__path__ = [osp.join(REPO_ROOT, path)]
        sys.modules[name] = package
    registry = types.ModuleType('mmpanoptic.registry')
    registry.MODELS = _RecordingRegistry()
    sys.modules['mmpanoptic.registry'] = registry


def openmmlab_stack_importable() -> bool:
    try:
        importlib.import_module('mmpanoptic.ops')
    except ImportError as error:
        print(f'[run_cuda_op_tests] mmpanoptic.ops not importable ({error}); '
              'loading mmpanoptic/ops/roi_upsample.py without the OpenMMLab '
              'stack')
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--skip-benchmark', action='store_true',
                        help='run the tests only (e.g. under '
                        'compute-sanitizer)')
    parser.add_argument('--pytest-args', nargs=argparse.REMAINDER,
                        default=[], help='extra pytest arguments')
    args = parser.parse_args()
    sys.path.insert(0, REPO_ROOT)
    import torch
    if not torch.cuda.is_available():
        print('[run_cuda_op_tests] torch sees no CUDA device: nothing to run')
        return 1
    print(f'[run_cuda_op_tests] torch {torch.__version__} CUDA '
          f'{torch.version.cuda} on {torch.cuda.get_device_name()}')
    full_stack = openmmlab_stack_importable()
    if not full_stack:
        for name in [m for m in sys.modules if m.split('.')[0] ==
                     'mmpanoptic']:
            del sys.modules[name]  # what the failed import left behind
        load_ops_without_openmmlab()
    import pytest
    # without the stack, tests/conftest.py (which builds synthetic datasets
    # with mmpanoptic.datasets) cannot be imported either
    pytest_args = ['-q', '-p', 'no:cacheprovider', '--rootdir', REPO_ROOT]
    if not full_stack:
        pytest_args.append('--noconftest')
    status = pytest.main(pytest_args + [
        osp.join(REPO_ROOT, 'tests', 'test_ops', 'test_roi_upsample_cuda.py')
    ] + args.pytest_args)
    if args.skip_benchmark:
        return int(status)
    spec = importlib.util.spec_from_file_location(
        'benchmark_ops',
        osp.join(REPO_ROOT, '.dev_scripts', 'benchmark_ops.py'))
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    try:
        for roi_size in (14, 28):
            benchmark.main([
                '--device', 'cuda', '--num-rois', '100', '1000',
                '--channels', '256', '--roi-size',
                str(roi_size), '--repeats', '50', '--warmup', '5',
                '--with-pytorch'
            ])
    except Exception as error:  # reported; the exit status says it failed
        print(f'[run_cuda_op_tests] benchmark failed: {error!r}')
        return int(status) or 1
    return int(status)


if __name__ == '__main__':
    sys.exit(main())
