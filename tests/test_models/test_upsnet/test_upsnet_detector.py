"""UPSNet end to end on CPU: randomly initialised, tiny inputs."""
import copy
import os.path as osp

import pytest
import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.structures import PixelData

from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules

CONFIGS = osp.join(osp.dirname(__file__), '../../../configs/upsnet')


def _model_cfg(name, **test_overrides):
    register_all_modules()
    cfg = Config.fromfile(osp.join(CONFIGS, name)).model
    cfg.backbone.init_cfg = None
    # few proposals and samples: fast on CPU
    cfg.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=50)
    cfg.train_cfg.rcnn.sampler.num = 32
    cfg.test_cfg.rpn.update(nms_pre=200, max_per_img=50)
    cfg.test_cfg.rcnn.update(test_overrides)
    return cfg


def _batch(num_things_classes, num_stuff_classes, size, num_items=(3, 0)):
    packed = demo_mm_inputs(
        len(num_items), [[3, size, size]] * len(num_items),
        num_items=list(num_items),
        num_classes=num_things_classes,
        with_mask=True)
    gen = torch.Generator().manual_seed(0)
    for sample in packed['data_samples']:
        sem = torch.randint(
            num_things_classes,
            num_things_classes + num_stuff_classes, (1, size, size),
            generator=gen)
        masks = sample.gt_instances.masks.to_tensor(torch.bool, 'cpu')
        for mask, label in zip(masks, sample.gt_instances.labels):
            sem[0][mask] = label
        sample.gt_sem_seg = PixelData(sem_seg=sem)
        sample.set_metainfo(dict(scale_factor=(1.0, 1.0)))
    return packed


def _check_panoptic_map(pan, num_things_classes, num_stuff_classes, shape):
    assert pan.shape == (1, ) + shape
    labels = pan % INSTANCE_OFFSET
    ids = pan // INSTANCE_OFFSET
    void = num_things_classes + num_stuff_classes
    is_thing = labels < num_things_classes
    assert (ids[is_thing] >= 1).all() and (ids[~is_thing] == 0).all()
    assert (labels <= void).all()


def _run(cfg, size, num_items=(3, 0)):
    model = MODELS.build(cfg)
    model.init_weights()
    num_things_classes = model.num_things_classes
    num_stuff_classes = model.num_stuff_classes
    packed = _batch(num_things_classes, num_stuff_classes, size, num_items)
    model.train()
    data = model.data_preprocessor(copy.deepcopy(packed), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    model.eval()
    data = model.data_preprocessor(copy.deepcopy(packed), False)
    with torch.no_grad():
        results = model.predict(data['inputs'], data['data_samples'])
    for result in results:
        _check_panoptic_map(result.pred_panoptic_seg.sem_seg,
                            num_things_classes, num_stuff_classes,
                            (size, size))
        assert result.pred_sem_seg.sem_seg.shape == (1, size, size)
        assert set(
            result.pred_instances.keys()) >= {'bboxes', 'labels', 'scores'}
    return model, losses, results


@pytest.mark.parametrize('config,size', [
    ('upsnet_r18_fpn_synthetic.py', 64),
    ('upsnet_r50_fpn_1x_coco.py', 64),
])
def test_loss_and_predict(config, size):
    # score threshold 0: detections reach the panoptic head
    model, losses, _ = _run(_model_cfg(config, score_thr=0.0), size)
    expected = {
        'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask',
        'loss_seg', 'loss_roi', 'loss_panoptic'
    }
    assert expected <= set(losses)
    for key in expected - {'loss_rpn_cls', 'loss_rpn_bbox'}:
        assert torch.isfinite(losses[key]).all(), key


def test_panoptic_loss_reaches_semantic_and_mask_heads():
    model = MODELS.build(_model_cfg('upsnet_r18_fpn_synthetic.py'))
    model.init_weights()
    model.train()
    packed = _batch(4, 4, 64, num_items=(3, 2))
    data = model.data_preprocessor(packed, True)
    losses = model.loss(data['inputs'], data['data_samples'])
    model.zero_grad()
    losses['loss_panoptic'].backward()
    grads = {
        'semantic classifier': model.semantic_head.conv_logits.weight.grad,
        'semantic subnet': model.semantic_head.subnet[0].conv.weight.grad,
        'mask head': model.roi_head.mask_head.conv_logits.weight.grad,
        'mask convs': model.roi_head.mask_head.convs[0].conv.weight.grad,
    }
    for name, grad in grads.items():
        assert grad is not None and grad.abs().sum() > 0, name
    # the box head is not on the panoptic loss's path
    assert model.roi_head.bbox_head.fc_cls.weight.grad is None


def test_zero_detections_and_zero_stuff_give_valid_maps():
    # no detection passes the threshold: stuff / unknown only
    cfg = _model_cfg('upsnet_r18_fpn_synthetic.py', score_thr=1.1)
    _, _, results = _run(cfg, 64)
    for result in results:
        assert len(result.pred_instances) == 0
        pan = result.pred_panoptic_seg.sem_seg
        assert (pan < INSTANCE_OFFSET).all()
    # every stuff segment trimmed away: things and VOID only
    cfg = _model_cfg('upsnet_r18_fpn_synthetic.py', score_thr=0.0)
    cfg.test_cfg.panoptic.stuff_area_limit = 64 * 64 + 1
    _, _, results = _run(cfg, 64)
    for result in results:
        labels = result.pred_panoptic_seg.sem_seg % INSTANCE_OFFSET
        assert ((labels < 4) | (labels == 8)).all()


def test_heuristic_variant():
    cfg = _model_cfg('upsnet_r18_fpn_synthetic.py', score_thr=0.0)
    cfg.panoptic_fusion_head.loss_panoptic = None  # UPSNet-C
    cfg.test_cfg.panoptic.fusion = 'heuristic'
    cfg.test_cfg.panoptic.with_instance_masks = True
    model, losses, results = _run(cfg, 64)
    assert 'loss_panoptic' not in losses
    assert results[0].pred_instances.masks.shape[1:] == (64, 64)


def test_class_count_mismatch_is_reported():
    cfg = _model_cfg('upsnet_r18_fpn_synthetic.py')
    cfg.panoptic_fusion_head.num_stuff_classes = 5
    with pytest.raises(ValueError, match='differ between heads'):
        MODELS.build(cfg)
    cfg = _model_cfg('upsnet_r18_fpn_synthetic.py')
    cfg.roi_head.bbox_head.num_classes = 3
    with pytest.raises(ValueError, match='thing classes'):
        MODELS.build(cfg)


def test_tensor_mode_forward():
    model = MODELS.build(_model_cfg('upsnet_r18_fpn_synthetic.py'))
    model.eval()
    data = model.data_preprocessor(_batch(4, 4, 64), False)
    with torch.no_grad():
        roi_outs, seg_preds = model(
            data['inputs'], data['data_samples'], mode='tensor')
    assert seg_preds.shape == (2, 8, 16, 16)
    assert isinstance(roi_outs, tuple)
