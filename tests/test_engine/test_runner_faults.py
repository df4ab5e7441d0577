"""Faults during training: kill -9 (also inside a checkpoint save), resume,
non-finite losses, and the helpers behind them."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub

from mmpanoptic.engine import (NonFiniteLossHook, capture_rng_state,
                               latest_complete_checkpoint, restore_rng_state)

from ..conftest import REPO_ROOT, tiny_synthetic_cli_options

CONFIG = osp.join(
    REPO_ROOT,
    'configs/panoptic_fpn/panoptic-fpn_r18_fpn_1xb4-800i_synthetic.py')
MAX_ITERS = 6


def test_latest_complete_checkpoint(tmp_path):
    assert latest_complete_checkpoint(str(tmp_path)) is None
    for name in ('iter_2.pth', 'iter_10.pth', 'iter_4.pth',
                 'iter_12.pth.part', 'best_PQ.pth'):
        (tmp_path / name).write_bytes(b'x')
    # no record: the highest complete numbered checkpoint (10 > 4 > 2)
    assert latest_complete_checkpoint(str(tmp_path)).endswith('iter_10.pth')
    record = tmp_path / 'last_checkpoint'
    record.write_text(str(tmp_path / 'iter_4.pth'))
    assert latest_complete_checkpoint(str(tmp_path)).endswith('iter_4.pth')
    record.write_text('')  # killed while writing the record
    assert latest_complete_checkpoint(str(tmp_path)).endswith('iter_10.pth')
    record.write_text(str(tmp_path / 'iter_99.pth'))  # record of a lost file
    assert latest_complete_checkpoint(str(tmp_path)).endswith('iter_10.pth')


def test_rng_state_round_trip():
    import random
    state = capture_rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


class _FakeRunner:
    iter, epoch, work_dir = 41, 0, '/tmp/work'


def test_nonfinite_loss_hook_names_the_loss_and_iteration():
    hook = NonFiniteLossHook()
    hook.after_train_iter(
        _FakeRunner(), 0,
        outputs=dict(loss=torch.tensor(1.0), loss_seg=torch.tensor(0.5)))
    with pytest.raises(FloatingPointError) as info:
        hook.after_train_iter(
            _FakeRunner(), 0,
            outputs=dict(loss=torch.tensor(float('nan')),
                         loss_mask=torch.tensor(float('inf')),
                         loss_seg=torch.tensor(0.5)))
    message = str(info.value)
    assert 'iteration 42' in message
    assert 'loss_mask=inf' in message and 'loss=nan' in message
    assert 'loss_seg' not in message


def _train(work_dir, data_root, extra=(), kill_at_save=None, env=None):
    """Run tools/train.py on a tiny split in a subprocess. With
    ``kill_at_save=N``, the process SIGKILLs itself half-way through writing
    its N-th checkpoint."""
    options = tiny_synthetic_cli_options(data_root) + [
        f'train_cfg.max_iters={MAX_ITERS}', 'train_cfg.val_interval=1000',
        'train_dataloader.batch_size=2', 'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=-1',
        'default_hooks.logger.interval=1', 'log_processor.window_size=1',
        'randomness.seed=0', 'randomness.deterministic=True'
    ]
    code = ['import runpy, sys']
    if kill_at_save is not None:
        # mmengine serialises to memory, then LocalBackend.put writes the
        # bytes: die half-way through that write of the N-th checkpoint
        code.append(f'''
import os, signal
from mmengine.fileio.backends import LocalBackend
_put, _count = LocalBackend.put, [0]
def put(self, obj, filepath):
    if str(filepath).endswith(('.pth', '.pth.part')):
        _count[0] += 1
        if _count[0] == {kill_at_save}:
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2]); f.flush(); os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
    return _put(self, obj, filepath)
LocalBackend.put = put''')
    code.append(
        "sys.argv = ['train.py'] + sys.argv[1:]; "
        f"runpy.run_path({osp.join(REPO_ROOT, 'tools/train.py')!r}, "
        "run_name='__main__')")
    command = [sys.executable, '-c', '\n'.join(code), CONFIG, '--work-dir',
               str(work_dir), *extra, '--cfg-options', *options]
    return subprocess.run(
        command, capture_output=True, text=True, cwd=work_dir.parent,
        env={**os.environ, 'OMP_NUM_THREADS': '1', **(env or {})})


def _losses(work_dir):
    """iteration -> total loss, from every run's scalars.json in work_dir."""
    losses = {}
    pattern = osp.join(work_dir, '*/vis_data/scalars.json')
    for path in sorted(glob.glob(pattern)):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if 'loss' in record:
                    losses[record['step']] = record['loss']
    return losses


@pytest.mark.parametrize('kill_at_save', [3])
def test_kill_during_checkpoint_save_then_resume_matches_uninterrupted(
        tmp_path, kill_at_save):
    data_root = str(tmp_path / 'data')
    reference = _train(tmp_path / 'reference', data_root)
    assert reference.returncode == 0, reference.stderr[-3000:]

    killed = _train(tmp_path / 'run', data_root, kill_at_save=kill_at_save)
    assert killed.returncode == -9  # SIGKILL
    # the checkpoint being written is not there under its real name ...
    assert not (tmp_path / 'run' / f'iter_{kill_at_save}.pth').exists()
    assert (tmp_path / 'run' / f'iter_{kill_at_save}.pth.part').exists()
    # ... and every checkpoint that is there loads
    for path in glob.glob(str(tmp_path / 'run' / '*.pth')):
        torch.load(path)

    resumed = _train(tmp_path / 'run', data_root, extra=['--resume'])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f'iter_{kill_at_save - 1}.pth' in resumed.stdout + resumed.stderr
    assert (tmp_path / 'run' / f'iter_{MAX_ITERS}.pth').exists()

    expected, got = _losses(tmp_path / 'reference'), _losses(tmp_path / 'run')
    assert sorted(expected) == list(range(1, MAX_ITERS + 1))
    assert sorted(got) == sorted(expected)
    for step in expected:
        assert got[step] == pytest.approx(expected[step], rel=1e-5), step


def test_nonfinite_loss_stops_training_with_its_name(tmp_path, monkeypatch):
    from mmdet.models.losses import CrossEntropyLoss
    data_root = str(tmp_path / 'data')
    # make the mask loss (the only 4-D CrossEntropyLoss input: N x C x 28 x
    # 28 mask logits) NaN from the start, in the subprocess
    sitecustomize = tmp_path / 'site' / 'sitecustomize.py'
    sitecustomize.parent.mkdir()
    sitecustomize.write_text(
        'import mmdet.models.losses.cross_entropy_loss as m\n'
        'forward = m.CrossEntropyLoss.forward\n'
        'def nan_forward(self, cls_score, label, *a, **k):\n'
        '    loss = forward(self, cls_score, label, *a, **k)\n'
        '    return loss * float("nan") if cls_score.dim() == 4 else loss\n'
        'm.CrossEntropyLoss.forward = nan_forward\n')
    assert CrossEntropyLoss  # the patched class exists in this mmdet
    result = _train(
        tmp_path / 'run', data_root,
        env={'PYTHONPATH': os.pathsep.join(
            [str(sitecustomize.parent)] + sys.path)})
    assert result.returncode != 0
    assert 'FloatingPointError: Non-finite loss at iteration 1' in \
        result.stderr
    assert 'loss_mask=nan' in result.stderr
    assert 'loss_seg=' not in result.stderr.split('FloatingPointError')[-1]
    assert not glob.glob(str(tmp_path / 'run' / '*.pth'))
    MessageHub.get_current_instance()  # the test process is unaffected
