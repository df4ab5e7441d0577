""".dev_scripts/benchmark_ops.py (RoIUpsample vs RoIAlign timing)
and .dev_scripts/run_cuda_op_tests.py's loading of the op without the
OpenMMLab stack, both on CPU."""
import os
import os.path as osp
import subprocess
import sys

from ..conftest import REPO_ROOT, load_script


def test_benchmark_ops_reports_both_ops_and_their_ratio(capsys):
    benchmark = load_script('.dev_scripts/benchmark_ops.py')
    benchmark.main([
        '--num-rois', '3', '7', '--channels', '4', '--roi-size', '5',
        '--map-size', '16', '20', '--repeats', '1', '--warmup', '0',
        '--with-pytorch'
    ])
    lines = capsys.readouterr().out.splitlines()
    assert "RoIAlign: mmcv RoIAlign; RoIUpsample: 'compiled' kernels" in \
        lines[0]
    rows = [line.split() for line in lines[2:]]
    assert [row[0] for row in rows] == ['3', '7']
    for row in rows:
        # times are printed in 0.1 ms, too coarse here to recompute ratios
        assert all(float(v) > 0 for v in row[1:])
        assert len(row) == 6  # with the pure-PyTorch column and its ratio


SCRIPT = r'''
import sys
# what a GPU machine with torch alone lacks
for name in ('mmcv', 'mmdet', 'mmengine', 'mmseg'):
    sys.modules[name] = None
import importlib.util
spec = importlib.util.spec_from_file_location('runner', sys.argv[1])
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)
sys.path.insert(0, runner.REPO_ROOT)
assert not runner.openmmlab_stack_importable()
for name in [m for m in sys.modules if m.split('.')[0] == 'mmpanoptic']:
    del sys.modules[name]
runner.load_ops_without_openmmlab()
import torch
from mmpanoptic.ops.roi_upsample import (RoIUpsample, resolve_implementation,
                                         roi_upsample)
registry = sys.modules['mmpanoptic.registry'].MODELS
assert registry.module_dict == {'RoIUpsample': RoIUpsample}
assert resolve_implementation('auto', torch.device('cpu')) == 'compiled'
# a 2 x 2 RoI feature of ones over an 8 x 8 box at scale 0.5 (4 x 4 map):
# each bin covers one 2 x 2 cell block whose sample points sit on pixel
# centres, so every pixel of the map receives exactly 1/4 of its bin's value
out = roi_upsample(torch.ones(1, 2, 2, 2), torch.tensor([[0., 0, 0, 8, 8]]),
                   (1, 4, 4), 0.5)
torch.testing.assert_close(out, torch.full((1, 2, 4, 4), 0.25))
print('OK', sorted(name for name, module in sys.modules.items()
                   if module is not None and name.startswith('mm')))
'''


def test_cuda_op_runner_loads_the_op_without_openmmlab():
    runner = osp.join(REPO_ROOT, '.dev_scripts', 'run_cuda_op_tests.py')
    result = subprocess.run([sys.executable, '-c', SCRIPT, runner],
                            capture_output=True, text=True, cwd='/',
                            env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert result.returncode == 0, result.stderr
    assert 'mmpanoptic.ops not importable' in result.stdout
    loaded = result.stdout.split('OK', 1)[1]
    assert "'mmpanoptic.ops.roi_upsample'" in loaded
    for package in ('mmcv', 'mmdet', 'mmengine'):
        assert f"'{package}" not in loaded
