"""End to end: one training iteration and one evaluation of the baseline
synthetic config on a tiny split, in-process and through ``mim``."""
import os
import os.path as osp
import shutil
import subprocess
import sys

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules
from mmpanoptic.utils.config_path import find_config

from ..conftest import (REPO_ROOT, tiny_synthetic_cfg_options,
                        tiny_synthetic_cli_options)

CONFIG = 'panoptic-fpn_r18_fpn_1xb4-800i_synthetic'


def _tiny_cfg(tiny, work_dir):
    cfg = Config.fromfile(find_config(CONFIG))
    cfg.merge_from_dict(
        tiny_synthetic_cfg_options(tiny['root'], tiny['generator']))
    cfg.merge_from_dict({
        'train_cfg.max_iters': 1,
        'train_cfg.val_interval': 1,
        'train_dataloader.batch_size': 2,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.logger.interval': 1,
        'param_scheduler': [],
    })
    cfg.work_dir = str(work_dir)
    return cfg


def test_find_config_by_name_and_path():
    path = find_config(CONFIG)
    assert osp.basename(path) == CONFIG + '.py'
    assert find_config(path) == path


def test_one_iteration_and_one_evaluation(tiny_synthetic, tmp_path):
    register_all_modules()
    runner = Runner.from_cfg(_tiny_cfg(tiny_synthetic, tmp_path))
    runner.train()
    # torch >= 2.6 loads weights_only by default: mmengine checkpoints must
    # still load (test.py, --resume)
    checkpoint = torch.load(tmp_path / 'iter_1.pth')
    assert checkpoint['meta']['iter'] == 1
    assert 'message_hub' in checkpoint and 'optimizer' in checkpoint
    metrics = runner.test()
    for key in ('coco_panoptic/PQ', 'coco_panoptic/SQ', 'coco_panoptic/RQ',
                'coco_panoptic/PQ_th', 'coco_panoptic/PQ_st'):
        assert 0.0 <= metrics[key] <= 100.0


def _mim():
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    assert osp.exists(mim), 'mim is not installed next to python'
    return mim


def test_mim_finds_package_configs_and_tools():
    from mim.utils import get_installed_path
    root = get_installed_path('mmpanoptic')
    assert osp.isfile(osp.join(root, '.mim', 'tools', 'train.py'))
    assert osp.isfile(osp.join(root, '.mim', 'tools', 'test.py'))
    configs = osp.join(root, '.mim', 'configs')
    found = [f for _, _, files in os.walk(configs, followlinks=True)
             for f in files]
    assert CONFIG + '.py' in found


def test_mim_link_hook(tmp_path):
    """The start-up hook links site-packages/mmpanoptic once, harmlessly."""
    site = tmp_path / 'site'
    site.mkdir()
    shutil.copy(osp.join(REPO_ROOT, 'mmpanoptic/utils/mim_link.py'),
                site / 'mmpanoptic_mim_link.py')
    source = tmp_path / 'src' / 'mmpanoptic'
    source.mkdir(parents=True)
    code = ('import mmpanoptic_mim_link as m; '
            f'm.link({str(source)!r}); m.link({str(source)!r})')
    subprocess.run([sys.executable, '-S', '-c', code], cwd=site, check=True,
                   env={**os.environ, 'PYTHONPATH': str(site)})
    assert os.readlink(site / 'mmpanoptic') == str(source)
    # a missing source tree never produces a dangling link
    (site / 'mmpanoptic').unlink()
    shutil.rmtree(source)
    subprocess.run([sys.executable, '-S', '-c', code], cwd=site, check=True,
                   env={**os.environ, 'PYTHONPATH': str(site)})
    assert not osp.lexists(site / 'mmpanoptic')


def test_mim_train_and_test_from_another_directory(tmp_path):
    """`mim train mmpanoptic <name>` from a folder outside the checkout
    (data generated there on first use), then `mim test`."""
    options = tiny_synthetic_cli_options() + [
        'train_cfg.max_iters=1', 'train_cfg.val_interval=100',
        'train_dataloader.batch_size=2', 'param_scheduler=[]',
        'default_hooks.checkpoint.interval=1'
    ]
    env = {**os.environ, 'PYTHONPATH': ''}
    subprocess.run(
        [_mim(), 'train', 'mmpanoptic', CONFIG, '--work-dir', 'work', '-y',
         '--cfg-options', *options],
        cwd=tmp_path, env=env, check=True)
    checkpoint = tmp_path / 'work' / 'iter_1.pth'
    assert checkpoint.exists()
    assert (tmp_path / 'data/synthetic_panoptic/annotations/'
            'panoptic_val.json').exists()
    result = subprocess.run(
        [_mim(), 'test', 'mmpanoptic', CONFIG, '--checkpoint',
         str(checkpoint), '--work-dir', 'work', '-y', '--cfg-options',
         *options],
        cwd=tmp_path, env=env, check=True, capture_output=True, text=True)
    assert 'coco_panoptic/PQ' in result.stdout + result.stderr


def test_predict_with_detections_through_the_test_pipeline(tiny_synthetic):
    """A model that detects things (score threshold 0) must get everything
    mask pasting and the metric need from the config's test pipeline (a
    random model with the default threshold detects nothing, which hid a
    missing ``scale_factor``)."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope

    from mmpanoptic.registry import DATASETS, MODELS
    register_all_modules()
    cfg = Config.fromfile(find_config(CONFIG))
    cfg.merge_from_dict(
        tiny_synthetic_cfg_options(tiny_synthetic['root'],
                                   tiny_synthetic['generator']))
    cfg.model.test_cfg.rcnn.score_thr = 0.0
    with DefaultScope.overwrite_default_scope('mmpanoptic'):
        dataset = DATASETS.build(cfg.test_dataloader.dataset)
        model = MODELS.build(cfg.model)
    model.eval()
    with torch.no_grad():
        result = model.test_step(pseudo_collate([dataset[0]]))[0]
    ids = result.pred_panoptic_seg.sem_seg
    assert ids.shape[-2:] == tuple(result.ori_shape)
    assert (ids.unique() >= 1000).any()  # thing segments were pasted


def test_test_py_tta(tmp_path):
    """``tools/test.py --tta`` runs UPSNet-M style testing end to end, and a
    config without TTA is refused naming the file."""
    register_all_modules()
    cfg = Config.fromfile(find_config('upsnet_r18_fpn_1xb4-800i_synthetic'))
    model = MODELS.build(cfg.model)
    model.init_weights()
    checkpoint = tmp_path / 'random.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    options = ['--cfg-options'] + tiny_synthetic_cli_options(
        str(tmp_path / 'data'))
    test_py = osp.join(REPO_ROOT, 'tools', 'test.py')
    result = subprocess.run(
        [sys.executable, test_py, 'upsnet_r18_fpn_1xb4-800i_synthetic',
         str(checkpoint), '--tta', '--work-dir', str(tmp_path / 'work')] +
        options,
        capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'coco_panoptic/PQ:' in result.stdout + result.stderr
    refused = subprocess.run(
        [sys.executable, test_py, 'panoptic-fcn_r18_fpn_1xb4-800i_synthetic',
         str(checkpoint), '--tta'],
        capture_output=True, text=True, cwd=tmp_path)
    assert refused.returncode != 0
    assert ('panoptic-fcn_r18_fpn_1xb4-800i_synthetic.py: --tta needs '
            'tta_model') in refused.stderr
