"""Regression of every synthetic config: seeded random weights, fixed
synthetic images, one ``loss`` and one ``predict`` compared with stored
reference values (``regression_reference.json``).

Refactors must keep these outputs bit for bit; a change that is meant to
alter a method's outputs updates its entry, by running this test with
``MMPANOPTIC_UPDATE_REGRESSION=1``.
"""
import copy
import hashlib
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from mmpanoptic.registry import DATASETS, MODELS
from mmpanoptic.utils import register_all_modules
from ..conftest import REPO_ROOT

REFERENCE = osp.join(osp.dirname(__file__), 'regression_reference.json')
UPDATE = os.environ.get('MMPANOPTIC_UPDATE_REGRESSION') == '1'
GENERATOR = dict(splits=dict(train=2, val=2), height=96, width=112, seed=5)

# low cut-offs so that randomly initialised models still produce things
# (Panoptic FCN: mask threshold 0.5, since its random masks are all near 0.5)
CONFIGS = {
    'upsnet_r18_fpn_1xb4-800i_synthetic': (
        'configs/upsnet/upsnet_r18_fpn_1xb4-800i_synthetic.py',
        {'test_cfg.rcnn.score_thr': 0.1, 'test_cfg.panoptic.score_thr': 0.1}),
    'aunet_r18_fpn_1xb4-800i_synthetic': (
        'configs/aunet/aunet_r18_fpn_1xb4-800i_synthetic.py',
        {'test_cfg.rcnn.score_thr': 0.1, 'test_cfg.panoptic.score_thr': 0.1}),
    # s V + M: with random weights (scores ~0.2) the config's variant C,
    # s (V + M), loses every pixel to the stuff channels
    'unifying_r18_fpn_1xb4-800i_synthetic': (
        'configs/unifying/unifying_r18_fpn_1xb4-800i_synthetic.py',
        {'test_cfg.rcnn.score_thr': 0.1, 'test_cfg.panoptic.score_thr': 0.1,
         'potential_head.variant': 'C-unscaled-mask'}),
    'panoptic-fcn_r18_fpn_1xb4-800i_synthetic': (
        'configs/panoptic_fcn/panoptic-fcn_r18_fpn_1xb4-800i_synthetic.py',
        {'test_cfg.panoptic_thing_score_thr': 0.0,
         'test_cfg.thing_score_thr': 0.0, 'test_cfg.stuff_score_thr': 0.0,
         'test_cfg.stuff_area_limit': 16, 'test_cfg.mask_thr': 0.5}),
    'panoptic-fpn_r18_fpn_1xb4-800i_synthetic': (
        'configs/panoptic_fpn/panoptic-fpn_r18_fpn_1xb4-800i_synthetic.py',
        {'test_cfg.rcnn.score_thr': 0.1}),
}


def _digest(tensor: torch.Tensor) -> str:
    array = np.ascontiguousarray(tensor.detach().cpu().numpy().astype(
        np.int64))
    return hashlib.sha1(array.tobytes()).hexdigest()[:16]


def _batch(cfg: Config, root: str, split: str) -> dict:
    loader = cfg[f'{split}_dataloader']
    dataset_cfg = copy.deepcopy(loader.dataset)
    dataset_cfg.update(data_root=root, generator=GENERATOR)
    dataset = DATASETS.build(dataset_cfg)
    return pseudo_collate([dataset[i] for i in range(len(dataset))])


def _run(name: str, root: str) -> dict:
    register_all_modules()
    path, overrides = CONFIGS[name]
    cfg = Config.fromfile(osp.join(REPO_ROOT, path))
    model_cfg = cfg.model
    for dotted, value in overrides.items():
        node = model_cfg
        *parents, leaf = dotted.split('.')
        for key in parents:
            node = node[key]
        node[leaf] = value
    torch.manual_seed(0)
    np.random.seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()

    model.eval()
    data = model.data_preprocessor(_batch(cfg, root, 'val'), False)
    with torch.no_grad():
        results = model.predict(data['inputs'], data['data_samples'])
    model.train()
    data = model.data_preprocessor(_batch(cfg, root, 'train'), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    loss_values = {}
    for key, value in sorted(losses.items()):
        if 'loss' in key:
            total = sum(value) if isinstance(value, (list, tuple)) else value
            loss_values[key] = float(total.detach())

    return dict(
        losses=loss_values,
        panoptic=[_digest(r.pred_panoptic_seg.sem_seg) for r in results],
        num_segments=[
            int(torch.unique(r.pred_panoptic_seg.sem_seg).numel())
            for r in results
        ])


@pytest.fixture(scope='module')
def regression_data(tmp_path_factory):
    return str(tmp_path_factory.mktemp('regression_synthetic'))


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_synthetic_config_outputs_unchanged(name, regression_data):
    outputs = _run(name, regression_data)
    if UPDATE:
        stored = {}
        if osp.exists(REFERENCE):
            with open(REFERENCE) as f:
                stored = json.load(f)
        stored[name] = outputs
        with open(REFERENCE, 'w') as f:
            json.dump(stored, f, indent=1, sort_keys=True)
    with open(REFERENCE) as f:
        expected = json.load(f)[name]
    assert outputs['panoptic'] == expected['panoptic'], (
        outputs['num_segments'], expected['num_segments'])
    assert sorted(outputs['losses']) == sorted(expected['losses'])
    for key, value in expected['losses'].items():
        assert outputs['losses'][key] == pytest.approx(
            value, rel=1e-6, abs=1e-6), key
    # the references are not trivial: every model predicts several segments
    assert max(expected['num_segments']) >= 3
