"""tools/dist_train.sh and tools/dist_test.sh on CPU (gloo): training runs,
and a 2-process test gives exactly the single-process predictions and PQ,
with no sample lost or duplicated on an uneven split (3 images, 2 ranks)."""
import os
import os.path as osp
import pickle
import re
import socket
import subprocess
import sys

from ..conftest import REPO_ROOT, tiny_synthetic_cli_options

CONFIG = 'configs/panoptic_fpn/panoptic-fpn_r18_fpn_1xb4-800i_synthetic.py'


def _options(data_root):
    return tiny_synthetic_cli_options(data_root, train=4, val=3) + [
        'train_cfg.max_iters=4', 'train_cfg.val_interval=1000',
        'train_dataloader.batch_size=1', 'param_scheduler=[]',
        'default_hooks.checkpoint.interval=4', 'test_evaluator.classwise=True'
    ]


def _free_port():
    """A port nothing listens on now: fixed ports collide when two test
    runs (or a user's training) share the machine."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _env():
    port = _free_port()
    bin_dir = osp.dirname(sys.executable)
    return {
        **os.environ, 'PATH': bin_dir + os.pathsep + os.environ['PATH'],
        'PORT': str(port), 'OMP_NUM_THREADS': '1'
    }


def _metrics(output):
    """The 'coco_panoptic/...' numbers of a test run's log."""
    return dict(re.findall(r'(coco_panoptic/\w+): (-?[\d.]+)', output))


def test_dist_train_then_dist_test_equals_single_process(tmp_path):
    data_root = str(tmp_path / 'data')
    options = _options(data_root)
    train = subprocess.run(
        ['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir',
         str(tmp_path / 'work'), '--cfg-options', *options],
        cwd=REPO_ROOT, env=_env(), capture_output=True, text=True)
    assert train.returncode == 0, train.stderr[-3000:]
    checkpoint = tmp_path / 'work' / 'iter_4.pth'
    assert checkpoint.exists()

    dist = subprocess.run(
        ['bash', 'tools/dist_test.sh', CONFIG, str(checkpoint), '2',
         '--work-dir', str(tmp_path / 'dist'), '--out',
         str(tmp_path / 'dist.pkl'), '--cfg-options', *options],
        cwd=REPO_ROOT, env=_env(), capture_output=True, text=True)
    assert dist.returncode == 0, dist.stderr[-3000:]
    single = subprocess.run(
        [sys.executable, 'tools/test.py', CONFIG, str(checkpoint),
         '--work-dir', str(tmp_path / 'single'), '--out',
         str(tmp_path / 'single.pkl'), '--cfg-options', *options],
        cwd=REPO_ROOT, env=_env(), capture_output=True, text=True)
    assert single.returncode == 0, single.stderr[-3000:]

    dist_metrics = _metrics(dist.stdout + dist.stderr)
    single_metrics = _metrics(single.stdout + single.stderr)
    assert 'coco_panoptic/PQ' in single_metrics
    assert dist_metrics == single_metrics

    with open(tmp_path / 'dist.pkl', 'rb') as f:
        dist_results = pickle.load(f)
    with open(tmp_path / 'single.pkl', 'rb') as f:
        single_results = pickle.load(f)
    # every image exactly once, in dataset order, identical predictions
    assert [r['img_id'] for r in dist_results] == [1, 2, 3]
    assert [r['img_id'] for r in single_results] == [1, 2, 3]
    for d, s in zip(dist_results, single_results):
        assert (d['pred_panoptic_seg']['sem_seg'] ==
                s['pred_panoptic_seg']['sem_seg']).all()
