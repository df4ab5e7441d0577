import os.path as osp

import pytest
import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules

from .panoptic_batch import make_panoptic_batch

CONFIG_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))),
    'configs', 'unifying')
SYNTHETIC = osp.join(CONFIG_DIR, 'unifying_r18_fpn_1xb4-800i_synthetic.py')
COCO = osp.join(CONFIG_DIR, 'unifying_r50_fpn_8xb2-200k_coco.py')


def build_model(config, **model_overrides):
    register_all_modules()
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    cfg.merge_from_dict({f'model.{k}': v for k, v in model_overrides.items()})
    with DefaultScope.overwrite_default_scope('mmpanoptic'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def run_loss(model, batch):
    model.train()
    data = model.data_preprocessor(batch, True)
    return model(**data, mode='loss')


def run_predict(model, batch):
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        return model(**data, mode='predict')


def total_loss(losses):
    return sum(
        sum(v) if isinstance(v, list) else v for k, v in losses.items()
        if 'loss' in k)


def check_panoptic_output(sample, num_things_classes, num_stuff_classes,
                          height, width):
    panoptic = sample.pred_panoptic_seg.sem_seg
    assert panoptic.shape == (1, height, width)
    labels = panoptic % INSTANCE_OFFSET
    ids = panoptic // INSTANCE_OFFSET
    void = num_things_classes + num_stuff_classes
    assert ((labels < void) | (panoptic == void)).all()
    # things carry an instance id, stuff and VOID do not
    assert (ids[labels < num_things_classes] > 0).all()
    assert (ids[labels >= num_things_classes] == 0).all()
    assert sample.pred_sem_seg.sem_seg.shape == (1, height, width)
    assert sample.pred_sem_seg.sem_seg.max() < void


@pytest.mark.parametrize('with_mask', [True, False])
def test_synthetic_loss_and_predict(with_mask):
    torch.manual_seed(0)
    overrides = dict(
        train_cfg=dict(panoptic=dict(score_thr=0.0, max_per_img=10)),
        test_cfg=dict(panoptic=dict(score_thr=0.0)))
    if not with_mask:
        overrides['roi_head'] = dict(mask_roi_extractor=None, mask_head=None)
    model = build_model(SYNTHETIC, **overrides)
    batch = make_panoptic_batch(64, 64)
    losses = run_loss(model, batch)
    assert 'loss_panoptic' in losses
    assert ('loss_mask' in losses) == with_mask
    assert torch.isfinite(total_loss(losses))
    results = run_predict(model, batch)
    for sample in results:
        check_panoptic_output(sample, 4, 4, 64, 64)
        assert ('masks' in sample.pred_instances) == with_mask
    assert len(results[0].pred_instances) > 0
    # tensor mode: RPN, R-CNN, semantic logits and affinity features
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        outputs = model(**data, mode='tensor')
    assert outputs[-1].shape == (2, 128, 16, 16)  # Q at 1/4
    assert outputs[-2].shape == (2, 8, 16, 16)  # semantic logits


@pytest.mark.parametrize('full_resolution', [False, True])
def test_zero_detections(full_resolution):
    model = build_model(
        SYNTHETIC,
        train_cfg=dict(
            panoptic=dict(score_thr=1.01, full_resolution=full_resolution)),
        test_cfg=dict(rcnn=dict(score_thr=1.01)))
    batch = make_panoptic_batch(64, 64)
    losses = run_loss(model, batch)
    assert torch.isfinite(losses['loss_panoptic'])
    total_loss(losses).backward()  # the graph is sound without detections
    for sample in run_predict(model, batch):
        assert len(sample.pred_instances) == 0
        assert sample.pred_instances.masks.shape == (0, 64, 64)
        check_panoptic_output(sample, 4, 4, 64, 64)
        # only stuff (or VOID): nothing to make things from
        assert (sample.pred_panoptic_seg.sem_seg < INSTANCE_OFFSET).all()


@pytest.mark.parametrize('full_resolution', [False, True])
def test_panoptic_loss_reaches_the_detector(full_resolution):
    """Appendix A.4: training on predicted detections sends the panoptic
    loss's gradient into the box classifier (scores) and the mask head;
    also when the loss is computed on P at input resolution."""
    torch.manual_seed(0)
    model = build_model(
        SYNTHETIC,
        train_cfg=dict(
            panoptic=dict(
                score_thr=0.0, max_per_img=20,
                full_resolution=full_resolution)))
    assert model.full_resolution_loss == full_resolution
    losses = run_loss(model, make_panoptic_batch(64, 64))
    model.zero_grad()
    losses['loss_panoptic'].backward()
    bbox_head = model.roi_head.bbox_head
    assert bbox_head.fc_cls.weight.grad.abs().sum() > 0
    assert bbox_head.shared_fcs[0].weight.grad.abs().sum() > 0
    assert model.roi_head.mask_head.conv_logits.weight.grad.abs().sum() > 0
    affinity = model.affinity_head
    assert affinity.query_proj.weight.grad.abs().sum() > 0
    assert affinity.key_proj.weight.grad.abs().sum() > 0
    assert model.semantic_head.conv_logits.weight.grad.abs().sum() > 0
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def test_model_a_segments_things_inside_their_boxes():
    """Without the affinity (Table 1 model A) the output is the argmax of
    the potential, which is 0 outside each detection's box."""
    torch.manual_seed(0)
    model = build_model(
        SYNTHETIC,
        roi_head=dict(mask_roi_extractor=None, mask_head=None),
        affinity_head=None,
        loss_panoptic=None,
        test_cfg=dict(panoptic=dict(score_thr=0.0, stuff_area_limit=0)))
    batch = make_panoptic_batch(64, 64)
    losses = run_loss(model, batch)
    assert 'loss_panoptic' not in losses
    # semantic logits that favour things: detections win inside their boxes
    with torch.no_grad():
        model.semantic_head.conv_logits.bias[:4] = 5.
    sample = run_predict(model, batch)[0]
    panoptic = sample.pred_panoptic_seg.sem_seg[0]
    boxes = sample.pred_instances.bboxes
    segment_ids = panoptic.unique()
    segment_ids = segment_ids[segment_ids >= INSTANCE_OFFSET]
    assert len(segment_ids) > 0
    ys, xs = torch.meshgrid(
        torch.arange(64) + 0.5, torch.arange(64) + 0.5, indexing='ij')
    for segment_id in segment_ids:
        pixels = panoptic == segment_id
        label = int(segment_id % INSTANCE_OFFSET)
        same_class = boxes[sample.pred_instances.labels == label]
        inside_any = torch.zeros_like(pixels)
        for x1, y1, x2, y2 in same_class:
            # 1/4 resolution + bilinear upsampling: allow a 4-pixel margin
            inside_any |= (xs >= x1 - 4) & (xs <= x2 + 4) & \
                (ys >= y1 - 4) & (ys <= y2 + 4)
        assert inside_any[pixels].all()


def test_heuristic_inference_for_ablations_c1_d1():
    model = build_model(
        SYNTHETIC,
        test_cfg=dict(
            panoptic=dict(
                inference='heuristic', score_thr=0.0, mask_overlap=0.5)))
    for sample in run_predict(model, make_panoptic_batch(64, 64)):
        check_panoptic_output(sample, 4, 4, 64, 64)


def test_bad_configurations_are_rejected():
    with pytest.raises(ValueError, match='needs an affinity_head'):
        build_model(SYNTHETIC, affinity_head=None)
    with pytest.raises(ValueError, match='heuristic'):  # needs masks
        build_model(
            SYNTHETIC,
            roi_head=dict(mask_roi_extractor=None, mask_head=None),
            test_cfg=dict(panoptic=dict(inference='heuristic')))
    with pytest.raises(ValueError, match='inference must be one of'):
        build_model(SYNTHETIC, test_cfg=dict(panoptic=dict(inference='vote')))


def test_coco_config_loss_and_predict_on_a_tiny_input():
    torch.manual_seed(0)
    model = build_model(
        COCO,
        train_cfg=dict(
            rpn_proposal=dict(nms_pre=100, max_per_img=30),
            rcnn=dict(sampler=dict(num=32)),
            panoptic=dict(score_thr=0.0, max_per_img=10)),
        test_cfg=dict(
            rpn=dict(nms_pre=100, max_per_img=30),
            rcnn=dict(max_per_img=10),
            panoptic=dict(score_thr=0.0, stuff_area_limit=64)))
    # 128 x 128: mmcv's deformable conv needs P5 of at least 3 x 3
    batch = make_panoptic_batch(
        128, 128, num_things_classes=80, num_stuff_classes=53)
    losses = run_loss(model, batch)
    assert torch.isfinite(total_loss(losses))
    assert losses['loss_panoptic'] > 0
    for sample in run_predict(model, batch):
        check_panoptic_output(sample, 80, 53, 128, 128)


@pytest.mark.parametrize('missing', ['score_thr', 'stuff_area_limit'])
def test_panoptic_cut_off_and_stuff_limit_are_required(missing):
    """Appendix B's cut-off is 0.75 on COCO and 0.5 on Cityscapes, and
    appendix C trims small stuff by default: a config that leaves either
    out must not fall back to a silent 0.5 or to no trimming."""
    from mmpanoptic.models.unifying import UnifyingPanopticHead
    test_cfg = dict(score_thr=0.75, stuff_area_limit=4096)
    head = UnifyingPanopticHead(
        num_things_classes=4, num_stuff_classes=4, test_cfg=test_cfg)
    assert (head.score_thr, head.stuff_area_limit) == (0.75, 4096)
    test_cfg.pop(missing)
    with pytest.raises(ValueError, match=f"lacks \\['{missing}'\\]"):
        UnifyingPanopticHead(
            num_things_classes=4, num_stuff_classes=4, test_cfg=test_cfg)
    with pytest.raises(ValueError, match='test_cfg.panoptic lacks'):
        build_model(
            SYNTHETIC,
            test_cfg=dict(panoptic=dict(_delete_=True, inference='argmax')))


def _record_potential_inputs(model):
    """Wraps the potential head so that the detections it sees are kept."""
    seen = []
    forward = model.potential_head.forward

    def spy(semantic_logits, detections, stride):
        seen.append(detections)
        return forward(semantic_logits, detections, stride)

    model.potential_head.forward = spy
    return seen


@pytest.mark.parametrize('with_mask', [True, False])
def test_table_h_trains_on_ground_truth_boxes_at_score_1(with_mask):
    """Table H, top row: the panoptic submodule is trained on the GT boxes
    with a uniform score of 1.0; the box classifier then gets no gradient
    from the panoptic loss (it does with predicted detections, see
    test_panoptic_loss_reaches_the_detector)."""
    torch.manual_seed(0)
    overrides = dict(train_cfg=dict(panoptic=dict(detections='ground_truth')))
    if not with_mask:
        overrides['roi_head'] = dict(mask_roi_extractor=None, mask_head=None)
    model = build_model(SYNTHETIC, **overrides)
    assert model.train_detections == 'ground_truth'
    seen = _record_potential_inputs(model)
    batch = make_panoptic_batch(64, 64)
    losses = run_loss(model, batch)
    assert len(seen) == 2
    for detections, sample in zip(seen, batch['data_samples']):
        gt = sample.gt_instances
        torch.testing.assert_close(detections.bboxes, gt.bboxes)
        assert detections.labels.tolist() == gt.labels.tolist()
        assert (detections.scores == 1).all()
        assert ('mask_probs' in detections) == with_mask
    model.zero_grad()
    losses['loss_panoptic'].backward()
    assert model.roi_head.bbox_head.fc_cls.weight.grad is None
    if with_mask:  # the masks of the GT boxes are still learnt through it
        mask_grad = model.roi_head.mask_head.conv_logits.weight.grad
        assert mask_grad.abs().sum() > 0
    with pytest.raises(ValueError, match='detections must be one of'):
        build_model(
            SYNTHETIC, train_cfg=dict(panoptic=dict(detections='oracle')))
