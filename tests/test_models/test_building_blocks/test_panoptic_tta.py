"""Test-time augmentation: semantic logits averaged over scales and flips
(UPSNet-M), through mmengine's TTA model and ``tools/test.py --tta``."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from mmpanoptic.models.building_blocks import (PanopticTTAModel,
                                               average_view_logits, undo_flip)
from mmpanoptic.registry import DATASETS, MODELS
from mmpanoptic.utils import register_all_modules
from mmpanoptic.utils.config_path import find_config
from mmpanoptic.utils.tta import use_tta
from tests.conftest import tiny_synthetic_cfg_options


def test_undo_flip_and_average_by_hand():
    logits = torch.arange(12.).reshape(1, 3, 4)
    assert torch.equal(undo_flip(logits, None), logits)
    assert torch.equal(
        undo_flip(logits, 'horizontal')[0, 0], torch.tensor([3., 2, 1, 0]))
    assert torch.equal(
        undo_flip(logits, 'vertical')[0, :, 0], torch.tensor([8., 4, 0]))
    assert torch.equal(
        undo_flip(logits, 'diagonal'), logits.flip(-1).flip(-2))
    # a view and its mirror image average to the view itself
    flipped_view = logits.flip(-1)
    assert torch.equal(
        average_view_logits([logits, flipped_view], [None, 'horizontal']),
        logits)
    # (0 + 12) / 2 = 6 everywhere
    mean = average_view_logits([torch.zeros(1, 3, 4), torch.full(
        (1, 3, 4), 12.)], [None, 'vertical'])
    assert torch.equal(mean, torch.full((1, 3, 4), 6.))
    with pytest.raises(ValueError, match='original image size'):
        average_view_logits([logits, logits[..., :2]], [None, None])
    with pytest.raises(ValueError, match='unknown flip direction'):
        undo_flip(logits, 'sideways')


def _tta_setup(tiny_synthetic, config):
    register_all_modules()
    init_default_scope('mmpanoptic')
    cfg = Config.fromfile(find_config(config))
    cfg.merge_from_dict(
        tiny_synthetic_cfg_options(tiny_synthetic['root'],
                                   tiny_synthetic['generator']))
    cfg = use_tta(cfg)
    torch.manual_seed(0)
    tta = MODELS.build(cfg.model)
    tta.module.init_weights()
    tta.eval()
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    return tta, pseudo_collate([dataset[0], dataset[1]])


@pytest.mark.parametrize('config', [
    'upsnet_r18_fpn_1xb4-800i_synthetic.py',
    'aunet_r18_fpn_1xb4-800i_synthetic.py'
])
def test_tta_averages_all_views_before_the_fusion(tiny_synthetic, config):
    tta, data = _tta_setup(tiny_synthetic, config)
    assert isinstance(tta, PanopticTTAModel)
    # 3 scales x (unflipped, flipped); the instance view is scale 1.0
    # unflipped (the median unflipped size)
    assert len(data['inputs']) == 6
    views = [{key: value[i] for key, value in data.items()} for i in range(6)]
    assert tta._pick_instance_view(views) == 2
    assert not views[2]['data_samples'][0].flip
    assert views[3]['data_samples'][0].flip

    module = tta.module
    merged_seen = []
    original_predict = module.predict

    def spy_predict(inputs, data_samples, rescale, merge_seg_logits):

        def spy_merge(own):
            merged = merge_seg_logits(own)
            merged_seen.append((own, merged))
            return merged

        return original_predict(inputs, data_samples, rescale, spy_merge)

    module.predict = spy_predict
    with torch.no_grad():
        results = tta.test_step(copy.deepcopy(data))
        expected = []
        for image in range(2):
            per_view = []
            for view in views:
                batch = module.data_preprocessor(copy.deepcopy(view), False)
                logits = module.predict_semantic_logits(
                    batch['inputs'], batch['data_samples'])[image]
                if batch['data_samples'][image].flip:
                    logits = logits.flip(-1)
                per_view.append(logits)
            expected.append(torch.stack(per_view).mean(0))
    own, merged = merged_seen[0]
    for image in range(2):
        height, width = data['data_samples'][0][image].ori_shape
        assert merged[image].shape[-2:] == (height, width)
        torch.testing.assert_close(merged[image], expected[image])
        assert not torch.allclose(merged[image], own[image])
    assert len(results) == 2
    for result, sample in zip(results, data['data_samples'][2]):
        assert result.pred_panoptic_seg.sem_seg.shape[-2:] == \
            sample.ori_shape


def test_instance_view_must_be_unflipped_and_exist(tiny_synthetic):
    tta, data = _tta_setup(tiny_synthetic,
                           'upsnet_r18_fpn_1xb4-800i_synthetic.py')
    views = [{key: value[i] for key, value in data.items()} for i in range(6)]
    tta.instance_view = 3
    with pytest.raises(ValueError, match='flipped view'):
        tta._pick_instance_view(views)
    tta.instance_view = 6
    with pytest.raises(IndexError, match='gives 6 views'):
        tta._pick_instance_view(views)


def test_methods_without_tta_are_refused():
    register_all_modules()
    cfg = Config.fromfile(
        find_config('panoptic-fcn_r18_fpn_1xb4-800i_synthetic.py'))
    with pytest.raises(
            KeyError,
            match='panoptic-fcn_r18_fpn_1xb4-800i_synthetic.py: '
            '--tta needs tta_model'):
        use_tta(cfg)
    with pytest.raises(TypeError, match='PanopticFCN does not support'):
        MODELS.build(dict(type='PanopticTTAModel', module=cfg.model))
