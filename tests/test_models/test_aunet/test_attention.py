"""PAM / MAM / background reweight (AUNet eq. (1)-(4)) on hand-made tensors,
and the FPN distribution of mask features with RoIUpsample."""
import pytest
import torch

from mmpanoptic.models.aunet import (BackgroundReweight, MaskAttention,
                                     ProposalAttention, fpn_levels_of_rois,
                                     mask_features_to_levels)
from mmpanoptic.ops import roi_upsample


def _set_attention_weights(module, w1, b1, w2, b2):
    with torch.no_grad():
        module.guide_conv.weight.copy_(w1[:, :, None, None])
        module.guide_conv.bias.copy_(b1)
        module.fg_logit_conv.weight.copy_(w2[:, :, None, None])
        module.fg_logit_conv.bias.copy_(b2)


@pytest.mark.parametrize('cls', [ProposalAttention, MaskAttention])
def test_attention_without_reweight_matches_eq_1_2(cls):
    pam = cls(
        guide_channels=2,
        feat_channels=3,
        hidden_channels=2,
        use_reweight=False)
    # w_1 = [[1, 0], [0, -1]], b_1 = 0; w_2 = [1, 2], b_2 = -0.5
    _set_attention_weights(pam, torch.tensor([[1., 0.], [0., -1.]]),
                           torch.zeros(2), torch.tensor([[1., 2.]]),
                           torch.tensor([-0.5]))
    guide = torch.tensor([[[[1.0, -2.0]], [[-3.0, 0.5]]]])  # (1, 2, 1, 2)
    feat = torch.arange(6.).reshape(1, 3, 1, 2)
    # eq. (1): pixel 0: relu([1, 3]) -> 1 + 6 - 0.5 = 6.5
    #          pixel 1: relu([-2, -0.5]) -> 0 + 0 - 0.5 = -0.5
    fg_logits = torch.tensor([6.5, -0.5])
    torch.testing.assert_close(
        pam.foreground_logits(guide).flatten(), fg_logits)
    bg = 1 - torch.sigmoid(fg_logits)  # M'
    expected = feat * bg.view(1, 1, 1, 2) + feat  # eq. (2)
    torch.testing.assert_close(pam(feat, guide), expected)


def test_background_reweight_matches_eq_3_4():
    reweight = BackgroundReweight(
        4, norm_cfg=dict(type='GN', num_groups=2, requires_grad=True))
    with torch.no_grad():
        reweight.conv.weight.copy_(torch.eye(4)[:, :, None, None] * 2)
        reweight.conv.bias.zero_()
    feat = torch.tensor([1., 3., 0., 4.]).view(1, 4, 1, 1).expand(1, 4, 2,
                                                                  2).clone()
    feat[0, 0, 0, 0] = 3.  # GAP of channel 0: (3 + 1 + 1 + 1) / 4 = 1.5
    gap = torch.tensor([1.5, 3., 0., 4.])
    conv = 2 * gap
    # GN with 2 groups of 2 channels, eps 1e-5, weight 1, bias 0
    groups = conv.view(2, 2)
    mean = groups.mean(1, keepdim=True)
    var = groups.var(1, unbiased=False, keepdim=True)
    normed = ((groups - mean) / torch.sqrt(var + 1e-5)).flatten()
    weights = torch.sigmoid(normed)  # N, eq. (3)
    torch.testing.assert_close(
        reweight.channel_weights(feat).flatten(), weights)
    torch.testing.assert_close(
        reweight(feat), feat * weights.view(1, 4, 1, 1))  # eq. (4)


def test_attention_with_reweight_is_composition():
    pam = ProposalAttention(
        guide_channels=4,
        feat_channels=8,
        use_reweight=True,
        norm_cfg=dict(type='GN', num_groups=4))
    pam.init_weights()
    feat, guide = torch.randn(2, 8, 5, 6), torch.randn(2, 4, 5, 6)
    attended = feat * (1 - pam.foreground_logits(guide).sigmoid()) + feat
    torch.testing.assert_close(pam(feat, guide), pam.reweight(attended))
    with pytest.raises(ValueError, match='spatial size'):
        pam(feat, guide[..., :3])


def test_fpn_levels_of_rois():
    # sqrt(wh): 50 -> 0, 112 -> 1, 230 -> 2, 1000 -> 3 (clamped)
    rois = torch.tensor([[0, 0, 0, 50, 50], [0, 0, 0, 112, 112],
                         [0, 10, 10, 240, 240], [0, 0, 0, 1000, 1000.]])
    assert fpn_levels_of_rois(rois, 4).tolist() == [0, 1, 2, 3]


def test_mask_features_to_levels_uses_roi_level_and_stride():
    feats = torch.randn(2, 3, 14, 14)
    rois = torch.tensor([[0, 8., 8., 48., 40.], [1, 16., 0., 176., 160.]])
    shapes, strides = [(32, 32), (16, 16), (8, 8), (4, 4)], [4, 8, 16, 32]
    maps = mask_features_to_levels(feats, rois, shapes, strides, 2)
    assert [tuple(m.shape) for m in maps] == [(2, 3, 32, 32), (2, 3, 16, 16),
                                              (2, 3, 8, 8), (2, 3, 4, 4)]
    # RoI 0 (sqrt(wh) ~ 36) -> level 0, RoI 1 (160) -> level 1
    torch.testing.assert_close(
        maps[0], roi_upsample(feats[:1], rois[:1], (2, 32, 32), 0.25))
    torch.testing.assert_close(
        maps[1], roi_upsample(feats[1:], rois[1:], (2, 16, 16), 0.125))
    assert maps[2].abs().sum() == 0 and maps[3].abs().sum() == 0
