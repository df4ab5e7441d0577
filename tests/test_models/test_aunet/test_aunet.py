"""AUNet detector: loss / predict on CPU for the synthetic and COCO-sized
configs (tiny inputs), gradients of the semantic loss through PAM and MAM,
eq. (7) weighting, the "sep" baseline, the FG branch's Mask R-CNN test
settings and GN heads, the outputs the metrics read and the configs of
configs/aunet."""
import copy
import glob
import os.path as osp

import pytest
import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmpanoptic.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
CONFIG_DIR = osp.join(REPO, 'configs', 'aunet')


def _cfg(name):
    init_default_scope('mmpanoptic')
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    cfg.model.backbone.init_cfg = None
    return cfg


def _small_detection(model_cfg):
    """Few proposals so that R50 configs run in seconds on CPU."""
    model_cfg.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=50)
    model_cfg.train_cfg.rcnn.sampler.num = 32
    model_cfg.test_cfg.rpn.update(nms_pre=200, max_per_img=50)
    model_cfg.test_cfg.rcnn.score_thr = 0.0  # random init: keep detections
    model_cfg.test_cfg.panoptic.score_thr = 0.0
    return model_cfg


def _batch(model, size, num_classes, training):
    torch.manual_seed(0)
    packed = demo_mm_inputs(
        2, [[3, size, size]] * 2,
        num_items=[3, 2],
        with_mask=True,
        with_semantic=True,
        num_classes=num_classes)
    return model.data_preprocessor(packed, training)


def _loss_and_predict(model_cfg, size, num_classes):
    model = MODELS.build(model_cfg)
    model.init_weights()
    losses = model(**_batch(model, size, num_classes, True), mode='loss')
    for key in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox',
                'loss_mask', 'loss_seg'):
        assert key in losses
    total = sum(
        sum(v) if isinstance(v, list) else v for k, v in losses.items()
        if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        results = model(
            **_batch(model, size, num_classes, False), mode='predict')
    num_all = model.num_things_classes + model.num_stuff_classes
    for result in results:
        pan = result.pred_panoptic_seg.sem_seg
        assert pan.shape == (1, size, size)
        labels = pan % INSTANCE_OFFSET
        assert ((labels >= 0) & (labels <= num_all)).all()
        # instance ids only on thing labels
        assert (labels[pan >= INSTANCE_OFFSET] <
                model.num_things_classes).all()
        _check_semantic_and_instances(result, model, size)
    return model, losses, results


def _check_semantic_and_instances(result, model, size):
    """``pred_sem_seg`` in the dataset's classes (mIoU) and the FG
    branch's ``pred_instances`` with binary masks (mmdet's CocoMetric)."""
    sem = result.pred_sem_seg.sem_seg
    assert sem.shape == (1, size, size) and not sem.is_floating_point()
    assert sem.min() >= 0 and sem.max() < model.num_classes
    instances = result.pred_instances
    num = len(instances)
    assert num <= model.roi_head.test_cfg.max_per_img
    assert instances.bboxes.shape == (num, 4)
    assert instances.masks.shape == (num, size, size)
    assert instances.masks.dtype == torch.bool
    assert (instances.labels < model.num_things_classes).all()
    assert (instances.scores >= model.roi_head.test_cfg.score_thr).all()


def test_synthetic_config_loss_and_predict():
    cfg = _cfg('aunet_r18_fpn_1xb4-800i_synthetic.py')
    model, _, results = _loss_and_predict(cfg.model, 64, 4)
    assert model.semantic_head.use_pam and model.semantic_head.use_mam
    # random init with score_thr 0.5 (synthetic setting) still gives a map
    assert len(results) == 2
    with torch.no_grad():
        outs = model(**_batch(model, 64, 4, False), mode='tensor')
    seg_preds = outs[-1]
    assert seg_preds.shape == (2, 5, 16, 16)  # 4 stuff + things, stride 4


def test_coco_sized_config_loss_and_predict():
    cfg = _cfg('aunet_r50_fpn_8xb2-18e_coco.py')
    model, _, results = _loss_and_predict(
        _small_detection(cfg.model), 96, 80)
    assert model.semantic_head.num_classes == 54  # 53 stuff + things
    assert model.mask_feature_size == 28
    assert model.panoptic_fusion_head.relations[27, 0]  # tie over person
    # score_thr 0: the instances reached the fusion
    assert any((r.pred_panoptic_seg.sem_seg >= INSTANCE_OFFSET).any()
               for r in results)


def test_cityscapes_config_has_19_bg_classes_and_no_mam():
    cfg = _cfg('aunet_r50_fpn_8xb2-100e_cityscapes.py')
    model, _, _ = _loss_and_predict(_small_detection(cfg.model), 64, 8)
    assert model.semantic_head.num_classes == 19
    assert not model.semantic_head.use_mam and model.semantic_head.use_pam
    assert model.loss_weights == dict(rpn=1.0, rcnn=0.75, mask=1.0, seg=1.0)


def _seg_loss_grads(use_pam, use_mam, mask_feature_size=28):
    cfg = _cfg('aunet_r18_fpn_1xb4-800i_synthetic.py').model
    cfg.semantic_head.update(use_pam=use_pam, use_mam=use_mam)
    cfg.mask_feature_size = mask_feature_size
    model = MODELS.build(cfg)
    model.init_weights()
    losses = model(**_batch(model, 64, 4, True), mode='loss')
    losses['loss_seg'].backward()
    rpn_grad = model.rpn_head.rpn_conv.conv.weight.grad
    mask_grad = model.roi_head.mask_head.convs[0].conv.weight.grad
    return rpn_grad, mask_grad


@pytest.mark.parametrize('mask_feature_size', [14, 28])
def test_semantic_loss_reaches_rpn_conv_and_mask_head(mask_feature_size):
    rpn_grad, mask_grad = _seg_loss_grads(True, True, mask_feature_size)
    assert rpn_grad is not None and rpn_grad.abs().sum() > 0  # via PAM
    assert mask_grad is not None and mask_grad.abs().sum() > 0  # via MAM
    # without the attention modules the semantic loss does not reach them
    rpn_grad, mask_grad = _seg_loss_grads(False, False, mask_feature_size)
    assert rpn_grad is None and mask_grad is None


def test_joint_loss_weights_eq_7():
    cfg = _cfg('aunet_r18_fpn_1xb4-800i_synthetic.py').model

    def losses_with(weights):
        model_cfg = copy.deepcopy(cfg)
        model_cfg.loss_weights = weights
        torch.manual_seed(1)
        model = MODELS.build(model_cfg)
        model.init_weights()
        return model(**_batch(model, 64, 4, True), mode='loss')

    base = losses_with(dict(rpn=1., rcnn=1., mask=1., seg=1.))
    scaled = losses_with(dict(rpn=2., rcnn=0.75, mask=3., seg=0.3))
    for key, factor in (('loss_cls', 0.75), ('loss_bbox', 0.75),
                        ('loss_mask', 3.), ('loss_seg', 0.3)):
        torch.testing.assert_close(scaled[key], base[key] * factor)
    torch.testing.assert_close(
        torch.stack(scaled['loss_rpn_cls']),
        torch.stack(base['loss_rpn_cls']) * 2)
    with pytest.raises(ValueError, match='unknown loss_weights'):
        bad = copy.deepcopy(cfg)
        bad.loss_weights = dict(semantic=1.)
        MODELS.build(bad)
    # a partial dict would take the missing lambdas from the COCO setting
    with pytest.raises(ValueError, match=r"lacks \['mask', 'rcnn', 'rpn'\]"):
        bad = copy.deepcopy(cfg)
        bad.loss_weights = dict(seg=1.)
        MODELS.build(bad)


def test_things_as_one_class_must_agree_between_heads():
    """The fusion reads the BG logits as S + 1 or T + S classes: a
    mismatch with the semantic head would misread every pixel."""
    cfg = _cfg('aunet_r18_fpn_1xb4-800i_synthetic.py').model
    cfg.panoptic_fusion_head.things_as_one_class = False
    with pytest.raises(ValueError, match='things_as_one_class differs'):
        MODELS.build(cfg)


def test_sep_trains_its_bg_model_at_its_own_loss_scale():
    """lambda_4 = 0.3 balances the branches of one joint model; the
    separate BG model of "sep" trains at weight 1."""
    assert _cfg(
        'aunet-sep_r50_fpn_8xb2-18e_coco.py').model.loss_weights == dict(
            rpn=1.0, rcnn=1.0, mask=1.0, seg=1.0)
    for name in ('aunet-e2e_r50_fpn_8xb2-18e_coco.py',
                 'aunet_r50_fpn_8xb2-18e_coco.py'):
        assert _cfg(name).model.loss_weights.seg == 0.3


def test_gn_in_the_rpn_conv_and_the_box_head():
    """Sec. 3.4: "Group Normalization is added to all of the branches":
    the RPN conv (whose feature guides PAM) and the box head too."""
    from mmcv.cnn import ConvModule
    from torch.nn import GroupNorm

    from mmpanoptic.models.aunet.aunet import rpn_forward_with_features
    cfg = _cfg('aunet_r18_fpn_1xb4-800i_synthetic.py').model
    model = MODELS.build(cfg)
    model.init_weights()
    conv = model.rpn_head.rpn_conv
    assert isinstance(conv, ConvModule) and isinstance(conv.norm, GroupNorm)
    bbox_head = model.roi_head.bbox_head
    assert len(bbox_head.shared_convs) == 4
    assert all(isinstance(m.norm, GroupNorm) for m in bbox_head.shared_convs)
    x = [torch.randn(1, 128, s, s) for s in (16, 8, 4, 2, 1)]
    cls_scores, bbox_preds, rpn_feats = rpn_forward_with_features(
        model.rpn_head, x)
    expected_cls, expected_bbox = model.rpn_head(x)
    for level in range(5):
        torch.testing.assert_close(cls_scores[level], expected_cls[level])
        torch.testing.assert_close(bbox_preds[level], expected_bbox[level])
        # P_i = ReLU(GN(conv3x3(x_i)))
        torch.testing.assert_close(
            rpn_feats[level],
            torch.relu(conv.norm(conv.conv(x[level]))))
    for name in ('aunet_r50_fpn_8xb2-18e_coco.py',
                 'aunet_r50_fpn_8xb2-100e_cityscapes.py'):
        model_cfg = _cfg(name).model
        assert model_cfg.rpn_head.norm_cfg.type == 'GN'
        assert model_cfg.roi_head.bbox_head.type == 'Shared4Conv1FCBBoxHead'
        assert model_cfg.roi_head.bbox_head.norm_cfg.type == 'GN'


@pytest.mark.parametrize('name', [
    'aunet_r50_fpn_8xb2-18e_coco.py', 'aunet_r50_fpn_8xb2-100e_cityscapes.py',
    'aunet_r18_fpn_1xb4-800i_synthetic.py',
    'aunet-sep_r50_fpn_8xb2-18e_coco.py'
])
def test_fg_branch_tests_as_mask_rcnn(name):
    """Sec. 3.4: the FG branch follows Mask R-CNN: per-class NMS 0.5, score
    0.05, 100 detections (pred_instances, AP); the fusion's own cut-off
    picks the instances it lays."""
    test_cfg = _cfg(name).model.test_cfg
    assert test_cfg.rcnn.score_thr == 0.05
    assert test_cfg.rcnn.nms.iou_threshold == 0.5
    assert not test_cfg.rcnn.nms.get('class_agnostic', False)
    assert test_cfg.rcnn.max_per_img == 100
    assert test_cfg.panoptic.score_thr == 0.5


def test_mam_at_test_sees_the_detections_the_fusion_lays():
    """Training feeds MAM positive RoIs (on objects); at test it gets the
    detections scoring at least the fusion's cut-off, not Mask R-CNN's
    0.05 ones."""
    cfg = _cfg('aunet_r18_fpn_1xb4-800i_synthetic.py')
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    batch = _batch(model, 64, 4, False)
    with torch.no_grad():
        results = model(**copy.deepcopy(batch), mode='predict')
    scores = torch.cat([r.pred_instances.scores for r in results])
    # a cut-off between the random model's scores: both kinds are present
    model.panoptic_fusion_head.score_thr = float(scores.median())
    num_confident = int((scores >= scores.median()).sum())
    assert 0 < num_confident < len(scores)
    seen = []
    mask_maps = model._mask_maps

    def spy(mask_feats, rois, *args):
        seen.append(rois.clone())
        return mask_maps(mask_feats, rois, *args)

    model._mask_maps = spy
    with torch.no_grad():
        results = model(**batch, mode='predict')
    assert len(seen) == 1 and seen[0].shape[0] == num_confident
    for result in results:
        _check_semantic_and_instances(result, model, 64)


def test_mam_guidance_of_one_object_has_one_scale():
    """Eight positive RoIs on one object (training) and its single
    detection (test) give MAM guidance of the same scale."""
    cfg = _cfg('aunet_r18_fpn_1xb4-800i_synthetic.py').model
    model = MODELS.build(cfg)
    model.init_weights()
    model.eval()
    x = model.extract_feat(torch.randn(1, 3, 128, 128))
    box = torch.tensor([[0, 20., 24., 84., 80.]])
    rois = box.repeat(8, 1)
    rois[1:, 1:] += torch.linspace(-3, 3, 7)[:, None]
    with torch.no_grad():
        _, feats = model._mask_forward(x, box)
        test = model._mask_maps(feats, box, x, 1)[0]
        train = model._mask_maps(feats.expand(8, -1, -1, -1), rois, x, 1)[0]
    inner = (slice(None), slice(None), slice(8, 18), slice(7, 19))
    ratio = train[inner].abs().mean() / test[inner].abs().mean()
    assert 0.8 < ratio < 1.25, float(ratio)


def test_sep_baseline_uses_its_own_bg_backbone():
    cfg = _cfg('aunet_r18_fpn_1xb4-800i_synthetic.py').model
    cfg.semantic_head.update(use_pam=False, use_mam=False,
                             use_reweight=False)
    cfg.bg_backbone = copy.deepcopy(cfg.backbone)
    cfg.bg_neck = copy.deepcopy(cfg.neck)
    model = MODELS.build(cfg)
    model.init_weights()
    losses = model(**_batch(model, 64, 4, True), mode='loss')
    losses['loss_seg'].backward()
    # no shared parameters: the semantic loss trains only the BG backbone
    assert model.backbone.conv1.weight.grad is None
    assert model.bg_backbone.conv1.weight.grad.abs().sum() > 0
    cfg.semantic_head.use_pam = True
    with pytest.raises(ValueError, match='PAM/MAM off'):
        MODELS.build(cfg)


def test_all_aunet_configs_build():
    names = sorted(
        osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*.py')))
    assert len(names) >= 10
    expected = {
        'aunet-sep_r50_fpn_8xb2-18e_coco.py': (False, False, False),
        'aunet-e2e_r50_fpn_8xb2-18e_coco.py': (False, False, False),
        'aunet-pam_r50_fpn_8xb2-18e_coco.py': (True, False, False),
        'aunet-pam-r_r50_fpn_8xb2-18e_coco.py': (True, False, True),
        'aunet-mam_r50_fpn_8xb2-18e_coco.py': (False, True, False),
        'aunet-mam-r_r50_fpn_8xb2-18e_coco.py': (False, True, True),
        'aunet-table1_r50_fpn_8xb2-18e_coco.py': (True, True, True),
        'aunet_r50_fpn_8xb2-18e_coco.py': (True, True, True),
    }
    for name in names:
        cfg = _cfg(name)
        head = cfg.model.semantic_head
        if name in expected:
            assert (head.use_pam, head.use_mam,
                    head.use_reweight) == expected[name], name
        assert cfg.model.type == 'AUNet'
        assert head.mam_position == 'merged'
        assert head.loss_seg.avg_non_ignore, name
        assert set(cfg.model.loss_weights) == {'rpn', 'rcnn', 'mask', 'seg'}
    # the structurally different ones are built (the others are built by
    # the loss/predict tests above)
    sep = MODELS.build(_cfg('aunet-sep_r50_fpn_8xb2-18e_coco.py').model)
    assert sep.bg_backbone is not None and sep.bg_neck is not None
    equ = MODELS.build(_cfg('aunet-equ_r50_fpn_8xb2-100e_cityscapes.py').model)
    assert equ.semantic_head.num_classes == 12  # 11 stuff + things
    assert equ.panoptic_fusion_head.things_as_one_class


def test_predict_without_detections():
    cfg = _cfg('aunet_r18_fpn_1xb4-800i_synthetic.py')
    cfg.model.test_cfg.rcnn.score_thr = 1.1  # nothing survives
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    with torch.no_grad():
        results = model(**_batch(model, 64, 4, False), mode='predict')
    for result in results:
        pan = result.pred_panoptic_seg.sem_seg
        assert pan.shape == (1, 64, 64)
        assert (pan < INSTANCE_OFFSET).all()
        assert (pan >= model.num_things_classes).all()  # stuff or VOID


def test_synthetic_config_trains_and_evaluates(tiny_synthetic, tmp_path):
    """Two iterations of the runner on a tiny split, a checkpoint and one
    evaluation (the path of tools/train.py and tools/test.py)."""
    from mmengine.runner import Runner

    from mmpanoptic.utils import register_all_modules
    from tests.conftest import tiny_synthetic_cfg_options

    register_all_modules()
    cfg = Config.fromfile(
        osp.join(CONFIG_DIR, 'aunet_r18_fpn_1xb4-800i_synthetic.py'))
    cfg.merge_from_dict(
        tiny_synthetic_cfg_options(tiny_synthetic['root'],
                                   tiny_synthetic['generator']))
    cfg.merge_from_dict({
        'train_cfg.max_iters': 2,
        'train_cfg.val_interval': 2,
        'train_dataloader.batch_size': 2,
        'default_hooks.checkpoint.interval': 2,
        'default_hooks.logger.interval': 1,
        'param_scheduler': [],
    })
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert (tmp_path / 'iter_2.pth').exists()
    metrics = runner.test()
    for key in ('coco_panoptic/PQ', 'coco_panoptic/PQ_th',
                'coco_panoptic/PQ_st'):
        assert 0.0 <= metrics[key] <= 100.0
