"""tools/demo/image_demo.py, browse_dataset.py and analyze_logs.py."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
import yaml
from mmengine.config import Config

from mmpanoptic.utils import rgb2id
from mmpanoptic.utils.config_path import find_config

from ..conftest import REPO_ROOT, load_script, tiny_synthetic_cfg_options

CONFIG = 'panoptic-fpn_r18_fpn_1xb4-800i_synthetic'
ENV = dict(os.environ, OMP_NUM_THREADS='1')


def test_image_demo_on_a_folder(tiny_synthetic, tmp_path):
    # Weights with a known answer (random ones may leave every pixel VOID,
    # and then there is nothing to draw): the semantic head says 'grass'
    # (stuff label 1) everywhere and the box classifier says background, so
    # every image is one grass segment.
    from mmpanoptic.apis import PanopticInferencer
    model = PanopticInferencer(CONFIG, device='cpu', show_progress=False).model
    state = model.state_dict()
    for name in ('semantic_head.conv_logits', 'roi_head.bbox_head.fc_cls'):
        state[name + '.weight'].zero_()
        state[name + '.bias'].zero_()
    state['semantic_head.conv_logits.bias'][1] = 10.
    state['roi_head.bbox_head.fc_cls.bias'][-1] = 10.  # background
    checkpoint = str(tmp_path / 'grass.pth')
    torch.save(
        dict(state_dict=state, meta=dict(dataset_meta=model.dataset_meta)),
        checkpoint)
    grass = model.dataset_meta['classes'].index('grass')

    folder = osp.join(tiny_synthetic['root'], 'val')
    out_dir = tmp_path / 'out'
    result = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools/demo/image_demo.py'), folder, CONFIG,
        '--weights', checkpoint, '--out-dir', str(out_dir), '--device', 'cpu',
        '--batch-size', '2'
    ], capture_output=True, text=True, cwd=REPO_ROOT, env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '3 images segmented' in result.stdout
    assert 'Inference' in result.stdout + result.stderr  # the progress bar
    names = sorted(os.listdir(folder))
    assert sorted(os.listdir(out_dir / 'vis')) == names
    for name in names:
        overlay = cv2.imread(str(out_dir / 'vis' / name))
        image = cv2.imread(osp.join(folder, name))
        assert overlay.shape == image.shape
        assert (overlay != image).any()
        ids = rgb2id(cv2.imread(str(out_dir / 'panoptic' / name))[..., ::-1])
        info = json.loads((out_dir / 'panoptic' /
                           name.replace('.png', '.json')).read_text())
        assert [(s['category_id'], s['isthing'], s['area'])
                for s in info['segments_info']] == [(grass, 0, ids.size)]
        assert (ids == info['segments_info'][0]['id']).all()


def test_image_demo_rejects_missing_input(tmp_path):
    result = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools/demo/image_demo.py'),
        str(tmp_path / 'nope.jpg'), CONFIG
    ], capture_output=True, text=True, cwd=REPO_ROOT, env=ENV)
    assert result.returncode == 2
    assert 'nope.jpg' in result.stderr and 'does not exist' in result.stderr


def test_browse_dataset_draws_panoptic_ground_truth(tiny_synthetic,
                                                    tmp_path):
    cfg = Config.fromfile(find_config(CONFIG))
    cfg.merge_from_dict(
        tiny_synthetic_cfg_options(tiny_synthetic['root'],
                                   tiny_synthetic['generator']))
    config = str(tmp_path / 'tiny.py')
    cfg.dump(config)
    out_dir = tmp_path / 'drawn'
    result = subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools/analysis_tools/browse_dataset.py'), config,
        '--split', 'val', '--not-show', '--output-dir',
        str(out_dir), '--max-images', '2'
    ], capture_output=True, text=True, cwd=REPO_ROOT, env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'save_dir' not in result.stderr  # no idle storage backend
    assert sorted(os.listdir(out_dir)) == ['000000.png', '000001.png']
    root = tiny_synthetic['root']
    drawn = cv2.imread(str(out_dir / '000000.png'))[..., ::-1].astype(int)
    image = cv2.imread(osp.join(root, 'val/000000.png'))[..., ::-1]
    gt = rgb2id(
        cv2.imread(osp.join(root,
                            'annotations/panoptic_val/000000.png'))[..., ::-1])
    assert drawn.shape == image.shape
    # VOID pixels (id 0) away from contours keep the image; the others not
    void = gt == 0
    interior = cv2.erode(void.astype(np.uint8), np.ones((3, 3))) > 0
    if interior.any():
        assert (np.abs(drawn[interior] - image[interior]) <= 1).all()
    labelled = cv2.erode((~void).astype(np.uint8), np.ones((3, 3))) > 0
    assert (np.abs(drawn[labelled] - image[labelled]).max(-1) > 1).mean() > .5


def _write_scalars(path):
    lines = [dict(loss=3.0, loss_cls=2.0, lr=0.01, time=2.0, iter=10,
                  step=10),
             dict(loss=2.0, loss_cls=1.5, lr=0.01, time=1.0, iter=20,
                  step=20),
             # mmengine writes val metrics with step = epoch (0)
             {'coco_panoptic/PQ': 12.5, 'coco_panoptic/PQ_th': 10.0,
              'coco_panoptic/SQ': 70.0, 'step': 0},
             dict(loss=1.0, loss_cls=0.5, lr=0.01, time=3.0, iter=30,
                  step=30),
             {'coco_panoptic/PQ': 20.0, 'coco_panoptic/PQ_th': 15.0,
              'coco_panoptic/SQ': 75.0, 'step': 0}]
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(json.dumps(line) for line in lines) + '\n')


def test_analyze_logs_curves_and_times(tmp_path):
    analyze_logs = load_script('tools/analysis_tools/analyze_logs.py')
    work_dir = tmp_path / 'work'
    _write_scalars(str(work_dir / '20260101_000000/vis_data/scalars.json'))
    train, val = analyze_logs.load_scalars(
        analyze_logs.scalar_files(str(work_dir)))
    assert train['loss'] == ([10.0, 20.0, 30.0], [3.0, 2.0, 1.0])
    # validation placed at the training iteration it follows
    assert val['coco_panoptic/PQ'] == ([20.0, 30.0], [12.5, 20.0])
    assert analyze_logs.default_keys(train, val) == (
        ['loss', 'loss_cls'], ['coco_panoptic/PQ', 'coco_panoptic/PQ_th'])

    out = str(tmp_path / 'curves.png')
    keys = analyze_logs.plot_curve([str(work_dir)], out)
    assert keys == ['loss', 'loss_cls', 'coco_panoptic/PQ',
                    'coco_panoptic/PQ_th']
    picture = cv2.imread(out)
    assert picture is not None and picture.shape[1] > picture.shape[0]
    with pytest.raises(KeyError, match='loss_mask'):
        analyze_logs.plot_curve([str(work_dir)], out, keys=['loss_mask'])
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        analyze_logs.scalar_files(str(tmp_path))

    times = analyze_logs.train_time(str(work_dir))  # first window left out
    assert times['mean'] == pytest.approx(2.0)
    assert times['slowest'] == 3.0 and times['fastest'] == 1.0


def test_model_index_imports_every_metafile():
    index = yaml.safe_load(open(osp.join(REPO_ROOT, 'model-index.yml')))
    imported = sorted(index['Import'])
    on_disk = sorted(
        osp.relpath(osp.join(dirpath, 'metafile.yml'), REPO_ROOT)
        for dirpath, _, files in os.walk(osp.join(REPO_ROOT, 'configs'))
        if 'metafile.yml' in files)
    assert imported == on_disk
    for metafile in imported:
        content = yaml.safe_load(open(osp.join(REPO_ROOT, metafile)))
        for model in content.get('Models', []):
            config = osp.join(REPO_ROOT, model['Config'])
            assert osp.isfile(config), f'{metafile}: {model["Config"]}'
            assert osp.splitext(osp.basename(config))[0] == model['Name']
