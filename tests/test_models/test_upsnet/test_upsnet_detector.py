"""UPSNet end to end on CPU: randomly initialised, tiny inputs."""
import copy
import json
import os.path as osp

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from mmdet.evaluation import CocoMetric
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.structures import InstanceData, PixelData

from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules

CONFIGS = osp.join(osp.dirname(__file__), '../../../configs/upsnet')


def _model_cfg(name, score_thr=None):
    """The config's model, small and fast on CPU; ``score_thr`` for both
    detection paths (standard and panoptic)."""
    register_all_modules()
    cfg = Config.fromfile(osp.join(CONFIGS, name)).model
    cfg.backbone.init_cfg = None
    # few proposals and samples: fast on CPU
    cfg.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=50)
    cfg.train_cfg.rcnn.sampler.num = 32
    cfg.test_cfg.rpn.update(nms_pre=200, max_per_img=50)
    if score_thr is not None:
        cfg.test_cfg.rcnn.score_thr = score_thr
        cfg.test_cfg.panoptic.score_thr = score_thr
        cfg.test_cfg.panoptic.heuristic_score_thr = score_thr
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
    ('upsnet_r18_fpn_1xb4-800i_synthetic.py', 64),
    ('upsnet_r50_fpn_8xb2-90k_coco.py', 64),
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
    model = MODELS.build(_model_cfg('upsnet_r18_fpn_1xb4-800i_synthetic.py'))
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
    cfg = _model_cfg('upsnet_r18_fpn_1xb4-800i_synthetic.py', score_thr=1.1)
    _, _, results = _run(cfg, 64)
    for result in results:
        assert len(result.pred_instances) == 0
        pan = result.pred_panoptic_seg.sem_seg
        assert (pan < INSTANCE_OFFSET).all()
    # every stuff segment trimmed away: things and VOID only
    cfg = _model_cfg('upsnet_r18_fpn_1xb4-800i_synthetic.py', score_thr=0.0)
    cfg.test_cfg.panoptic.stuff_area_limit = 64 * 64 + 1
    _, _, results = _run(cfg, 64)
    for result in results:
        labels = result.pred_panoptic_seg.sem_seg % INSTANCE_OFFSET
        assert ((labels < 4) | (labels == 8)).all()


def test_heuristic_variant():
    cfg = _model_cfg('upsnet_r18_fpn_1xb4-800i_synthetic.py', score_thr=0.0)
    cfg.panoptic_fusion_head.loss_panoptic = None  # UPSNet-C
    cfg.test_cfg.panoptic.fusion = 'heuristic'
    cfg.test_cfg.panoptic.with_instance_masks = True
    model, losses, results = _run(cfg, 64)
    assert 'loss_panoptic' not in losses
    assert results[0].pred_instances.masks.shape[1:] == (64, 64)


def test_no_unknown_model_trains_and_predicts():
    cfg = _model_cfg('upsnet_r18_fpn_1xb4-800i_synthetic.py', score_thr=0.0)
    cfg.panoptic_fusion_head.update(unknown_fraction=0.0, with_unknown=False)
    _, losses, _ = _run(cfg, 64)
    assert torch.isfinite(losses['loss_panoptic'])


# Three proposals of a 64 x 64 image with T = 4: A (class 1, 0.9) on the
# ground-truth box, B (class 2, 0.7) on almost the same box, C (class 1,
# 0.3) elsewhere. Per-class NMS keeps all three, the class-agnostic NMS
# at 0.6 of the panoptic path only A.
GT_BOX = [8., 8., 40., 32.]
PROPOSALS = torch.tensor([GT_BOX, [10., 8., 40., 32.], [44., 40., 60., 60.]])
PROPOSAL_SCORES = {0: (1, 0.9), 1: (2, 0.7), 2: (1, 0.3)}


def _fixed_detector(model, monkeypatch):
    """Replace the box head's output by :data:`PROPOSALS` (class-wise boxes
    and scores before NMS) and the mask head's by confident full-box masks,
    and record what the panoptic head receives."""
    num_classes = model.roi_head.bbox_head.num_classes

    def predict_bbox(x, batch_img_metas, rpn_results_list, rcnn_test_cfg,
                     rescale=False):
        assert rcnn_test_cfg is None  # NMS happens per detection path
        scores = torch.zeros(len(PROPOSALS), num_classes + 1)
        for row, (label, score) in PROPOSAL_SCORES.items():
            scores[row, label] = score
            scores[row, -1] = 1 - score
        return [
            InstanceData(
                bboxes=PROPOSALS.repeat(1, num_classes), scores=scores)
            for _ in batch_img_metas
        ]

    def mask_forward(x, rois):
        return dict(mask_preds=torch.full((len(rois), num_classes, 28, 28),
                                          10.))

    received = []
    fusion_predict = model.panoptic_fusion_head.predict

    def spy(det_results_list, seg_logits_list, **kwargs):
        received.extend(det_results_list)
        return fusion_predict(det_results_list, seg_logits_list, **kwargs)

    monkeypatch.setattr(model.roi_head, 'predict_bbox', predict_bbox)
    monkeypatch.setattr(model.roi_head, '_mask_forward', mask_forward)
    monkeypatch.setattr(model.panoptic_fusion_head, 'predict', spy)
    return received


def _predict_fixed(cfg, monkeypatch):
    model = MODELS.build(cfg)
    model.eval()
    received = _fixed_detector(model, monkeypatch)
    packed = _batch(4, 4, 64, num_items=(1, ))
    packed['data_samples'][0].set_metainfo(dict(img_id=0,
                                                ori_shape=(64, 64)))
    data = model.data_preprocessor(packed, False)
    with torch.no_grad():
        results = model.predict(data['inputs'], data['data_samples'])
    return results[0], received


def test_two_detection_paths(monkeypatch):
    """The official model's two detection paths from one box-head pass
    (uber-research/UPSNet ``upsnet/models/resnet_upsnet.py`` lines 61-62
    and 69-70: ``mask_roi`` with ``config.test`` score 0.05 and per-class
    NMS, ``mask_roi_panoptic`` class-agnostic at 0.6; used at lines 204 and
    218): ``pred_instances`` from the standard one, the panoptic logits
    from the class-agnostic one."""
    cfg = _model_cfg('upsnet_r18_fpn_1xb4-800i_synthetic.py')
    cfg.test_cfg.panoptic.score_thr = 0.6
    result, received = _predict_fixed(cfg, monkeypatch)
    instances = result.pred_instances
    assert instances.labels.tolist() == [1, 2, 1]
    assert torch.allclose(instances.scores, torch.tensor([0.9, 0.7, 0.3]))
    assert torch.equal(instances.bboxes, PROPOSALS)
    assert len(received) == 1 and received[0].labels.tolist() == [1]
    assert torch.equal(received[0].bboxes, PROPOSALS[:1])

    # UPSNet-C / -CP: the heuristic combination gets the standard ones and
    # lays those >= 0.6: A, and B mostly on A is skipped
    cfg.test_cfg.panoptic.fusion = 'heuristic'
    result, received = _predict_fixed(cfg, monkeypatch)
    assert received[-1].labels.tolist() == [1, 2, 1]
    pan = result.pred_panoptic_seg.sem_seg[0]
    things = pan[pan % INSTANCE_OFFSET < 4]
    assert set(things.unique().tolist()) == {1 + INSTANCE_OFFSET}
    assert int((pan == 1 + INSTANCE_OFFSET).sum()) == 32 * 24


def test_instance_masks_evaluate_with_coco_metric(monkeypatch, tmp_path):
    """With ``with_instance_masks``, ``pred_instances`` (the standard path)
    carries binary masks that mmdet's ``CocoMetric`` evaluates for box and
    mask AP: A matches the one ground-truth object exactly (AP 1), C is a
    lower-scored false positive of the same class (AP still 1)."""
    cfg = _model_cfg('upsnet_r18_fpn_1xb4-800i_synthetic.py')
    cfg.test_cfg.panoptic.with_instance_masks = True
    result, _ = _predict_fixed(cfg, monkeypatch)
    masks = result.pred_instances.masks
    assert masks.dtype == torch.bool and masks.shape == (3, 64, 64)
    gt_mask = np.zeros((64, 64), dtype=np.uint8)
    gt_mask[8:32, 8:40] = 1
    assert np.array_equal(masks[0].numpy(), gt_mask.astype(bool))

    rle = mask_util.encode(np.asfortranarray(gt_mask))
    rle['counts'] = rle['counts'].decode()
    classes = ('c0', 'c1', 'c2', 'c3')
    ann_file = tmp_path / 'instances.json'
    ann_file.write_text(json.dumps(dict(
        images=[dict(id=0, width=64, height=64, file_name='0.png')],
        annotations=[dict(id=1, image_id=0, category_id=2, iscrowd=0,
                          bbox=[8, 8, 32, 24], area=32 * 24,
                          segmentation=rle)],
        categories=[dict(id=i + 1, name=name)
                    for i, name in enumerate(classes)])))
    metric = CocoMetric(ann_file=str(ann_file), metric=['bbox', 'segm'])
    metric.dataset_meta = dict(classes=classes)
    metric.process({}, [result.to_dict()])
    scores = metric.compute_metrics(metric.results)
    assert scores['bbox_mAP'] == pytest.approx(1.0)
    assert scores['segm_mAP'] == pytest.approx(1.0)


def test_class_count_mismatch_is_reported():
    cfg = _model_cfg('upsnet_r18_fpn_1xb4-800i_synthetic.py')
    cfg.panoptic_fusion_head.num_stuff_classes = 5
    with pytest.raises(ValueError, match='differ between heads'):
        MODELS.build(cfg)
    cfg = _model_cfg('upsnet_r18_fpn_1xb4-800i_synthetic.py')
    cfg.roi_head.bbox_head.num_classes = 3
    with pytest.raises(ValueError, match='thing classes'):
        MODELS.build(cfg)


def test_tensor_mode_forward():
    model = MODELS.build(_model_cfg('upsnet_r18_fpn_1xb4-800i_synthetic.py'))
    model.eval()
    data = model.data_preprocessor(_batch(4, 4, 64), False)
    with torch.no_grad():
        roi_outs, seg_preds = model(
            data['inputs'], data['data_samples'], mode='tensor')
    assert seg_preds.shape == (2, 8, 16, 16)
    assert isinstance(roi_outs, tuple)
