"""UPSNetPanopticHead's settings: the instance class assignment switch,
the "no unknown" setting, the panoptic detection path and bad settings."""
import pytest
import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData, PixelData

from mmpanoptic.models.upsnet import UPSNetPanopticHead
from mmpanoptic.models.upsnet.panoptic_logits import panoptic_logits


def _one_detection_on_stuff():
    """T = 1, S = 1, 4 x 4: the semantic head says stuff everywhere, one
    confident detection with positive mask logits covers columns 0-1."""
    seg_logits = torch.zeros(2, 4, 4)
    seg_logits[1] = 5.0  # stuff
    detections = InstanceData(
        bboxes=torch.tensor([[0., 0., 2., 4.]]),
        labels=torch.tensor([0]),
        scores=torch.tensor([0.9]),
        mask_logits=torch.full((1, 28, 28), 10.0))
    return detections, seg_logits


def test_instance_class_assignment_switch():
    detections, seg_logits = _one_detection_on_stuff()
    stuff, thing = 1, 0 + INSTANCE_OFFSET
    head = UPSNetPanopticHead(1, 1, test_cfg=dict(stuff_area_limit=0))
    pan = head.predict([detections], [seg_logits])[0].sem_seg[0]
    # paper 3.1: the semantic head's mode is stuff on all of the instance
    assert (pan == stuff).all()
    # Table 6 rows without "Our ICA": Mask R-CNN's class is kept
    head = UPSNetPanopticHead(
        1, 1, test_cfg=dict(stuff_area_limit=0, class_assignment=False))
    pan = head.predict([detections], [seg_logits])[0].sem_seg[0]
    expected = torch.full((4, 4), stuff, dtype=torch.int32)
    expected[:, :2] = thing
    assert torch.equal(pan, expected)


def test_no_unknown_inference_never_predicts_unknown_inside_boxes():
    # the thing logit is high where no detection is: unknown with Z_unknown
    detections, seg_logits = _one_detection_on_stuff()
    seg_logits[0, :, 3] = 9.0
    void = 2
    head = UPSNetPanopticHead(1, 1, test_cfg=dict(stuff_area_limit=0))
    pan = head.predict([detections], [seg_logits])[0].sem_seg[0]
    assert (pan[:, 3] == void).all()
    head = UPSNetPanopticHead(
        1, 1, unknown_fraction=0.0, with_unknown=False,
        test_cfg=dict(stuff_area_limit=0))
    pan = head.predict([detections], [seg_logits])[0].sem_seg[0]
    assert (pan[:, 3] == 1).all()  # stuff, the best remaining channel


def test_no_unknown_training_targets_and_loss():
    """Without the unknown class all instances are channels and the thing
    pixels of no instance are ignored: the loss equals the cross-entropy
    over the non-ignored pixels of the logits without Z_unknown."""
    head = UPSNetPanopticHead(
        1, 1, unknown_fraction=0.0, with_unknown=False,
        loss_panoptic=dict(type='CrossEntropyLoss', ignore_index=255,
                           avg_non_ignore=True, loss_weight=1.0))
    sem = torch.ones(1, 8, 8, dtype=torch.long)  # stuff
    sem[0, :4, :4] = 0  # instance
    sem[0, 4:, 4:] = 0  # crowd: a thing without instance
    sample = DetDataSample()
    masks = (sem[0] == 0)[None].clone()
    masks[0, 4:, 4:] = False
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[0., 0., 4., 4.]]), labels=torch.tensor([0]),
        masks=BitmapMasks(masks.numpy(), 8, 8))
    sample.gt_sem_seg = PixelData(sem_seg=sem)
    seg_preds = torch.randn(1, 2, 2, 2, requires_grad=True)
    mask_logits = [torch.randn(1, 28, 28)]
    loss = head.loss(seg_preds, mask_logits, [sample])['loss_panoptic']
    # 1/4 resolution: pixel (0, 0) instance, (0, 1) and (1, 0) stuff,
    # (1, 1) crowd -> ignored
    logits = panoptic_logits(seg_preds[0], torch.tensor([[0., 0., 1., 1.]]),
                             torch.tensor([0]), mask_logits[0], 1,
                             with_unknown=False)
    assert logits.shape[0] == 2
    log_p = logits.log_softmax(0)
    expected = -(log_p[1, 0, 0] + log_p[0, 0, 1] + log_p[0, 1, 0]) / 3
    assert torch.allclose(loss, expected)


def test_panoptic_detection_path_settings():
    head = UPSNetPanopticHead(80, 53)
    cfg = head.detection_cfg()
    assert cfg.score_thr == 0.6 and cfg.max_per_img == 100
    assert cfg.nms == dict(type='nms', iou_threshold=0.5,
                           class_agnostic=True)
    assert head.test_cfg['heuristic_score_thr'] == 0.6
    assert head.test_cfg['heuristic_overlap'] == 0.3


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match='with_unknown=False'):
        UPSNetPanopticHead(1, 1, unknown_fraction=0.3, with_unknown=False)
    with pytest.raises(ValueError, match='score_treshold'):
        UPSNetPanopticHead(1, 1, test_cfg=dict(score_treshold=0.5))
    with pytest.raises(ValueError, match='fusion'):
        UPSNetPanopticHead(1, 1, test_cfg=dict(fusion='kirillov'))
