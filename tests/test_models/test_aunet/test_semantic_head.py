"""AUNet's BG branch: where MAM sits (one MAM on the merged map, or one per
level) as a composition of the head's own layers, and the semantic loss
averaged over the non-ignored pixels."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from mmpanoptic.models.aunet import AUNetSemanticHead
from mmpanoptic.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


def _head(mam_position, use_pam=True):
    head = AUNetSemanticHead(
        num_things_classes=2,
        num_stuff_classes=3,
        things_as_one_class=True,
        in_channels=8,
        feat_channels=8,
        num_levels=3,
        use_pam=use_pam,
        use_mam=True,
        mam_position=mam_position,
        rpn_channels=4,
        mask_channels=6,
        norm_cfg=dict(type='GN', num_groups=4, requires_grad=True))
    head.init_weights()
    return head.eval()


def _inputs():
    sizes = [(16, 20), (8, 10), (4, 5)]
    x = [torch.randn(2, 8, h, w) for h, w in sizes]
    rpn = [torch.randn(2, 4, h, w) for h, w in sizes]
    masks = [torch.randn(2, 6, h, w) for h, w in sizes]
    return x, rpn, masks


def _upsampled(feat, size):
    if feat.shape[-2:] == size:
        return feat
    return F.interpolate(
        feat, size=size, mode='bilinear', align_corners=False)


@pytest.mark.parametrize('use_pam', [True, False])
def test_one_mam_after_the_levels_are_merged(use_pam):
    head = _head('merged', use_pam)
    assert len(head.mask_attentions) == 1 and head.num_mask_maps == 1
    x, rpn, masks = _inputs()
    merged_mask = masks[0]  # (2, 6, 16, 20), the finest level's size
    merged = 0
    for level in range(3):
        feat = head.lateral_convs[level](x[level])
        if use_pam:
            feat = head.proposal_attentions[level](feat, rpn[level])
        feat = head.attended_convs[level](feat)  # S_pam,i
        merged = merged + _upsampled(feat, x[0].shape[-2:])
    attended = head.mask_attentions[0](merged, merged_mask)  # S_pam x P_roi
    out = head(x, rpn if use_pam else None, [merged_mask])
    torch.testing.assert_close(out['seg_feats'], attended)
    torch.testing.assert_close(out['seg_preds'], head.conv_logits(attended))


def test_one_mam_per_level_option():
    head = _head('per_level')
    assert len(head.mask_attentions) == 3 and head.num_mask_maps == 3
    x, rpn, masks = _inputs()
    merged = 0
    for level in range(3):
        feat = head.lateral_convs[level](x[level])
        feat = head.proposal_attentions[level](feat, rpn[level])
        feat = head.attended_convs[level](feat)
        feat = head.mask_attentions[level](feat, masks[level])
        merged = merged + _upsampled(feat, x[0].shape[-2:])
    out = head(x, rpn, masks)
    torch.testing.assert_close(out['seg_feats'], merged)


def test_mam_inputs_are_checked():
    x, rpn, masks = _inputs()
    with pytest.raises(ValueError, match=r'merged.*1 RoIUpsample'):
        _head('merged')(x, rpn, masks)
    with pytest.raises(ValueError, match=r'per_level.*3 RoIUpsample'):
        _head('per_level')(x, rpn, masks[:1])
    with pytest.raises(ValueError, match='mam_position'):
        _head('after_fusion')


def test_semantic_loss_averages_over_non_ignored_pixels():
    """lambda_4 weighs the mean CE of the labelled pixels: VOID (255) and
    padding pixels must not count in the denominator."""
    init_default_scope('mmpanoptic')
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/aunet/aunet_r18_fpn_1xb4-800i_synthetic.py'))
    head = MODELS.build(cfg.model.semantic_head)  # T = 4, S = 4, equ
    logits = torch.randn(1, 5, 2, 3)
    gt = torch.tensor([[[4, 255, 0], [255, 255, 7]]])  # 3 labelled pixels
    sample = DetDataSample()
    sample.gt_sem_seg = PixelData(sem_seg=gt)
    loss = head.loss_by_feat(logits, [sample])['loss_seg']
    targets = torch.tensor([[[0, 255, 4], [255, 255, 3]]])  # equ labels
    expected = sum(
        F.cross_entropy(logits[:, :, y, x], targets[:, y, x])
        for y, x in ((0, 0), (0, 2), (1, 2))) / 3
    torch.testing.assert_close(loss, expected)
    # diluted by the 3 ignored pixels it would be half of that
    assert not torch.isclose(loss, expected / 2)
