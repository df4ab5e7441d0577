"""PAM / MAM / background reweight (AUNet eq. (1)-(4)) on hand-made tensors,
and the FPN distribution of mask features with RoIUpsample: overlapping RoIs
averaged, levels merged into one map."""
import pytest
import torch

from mmpanoptic.models.aunet import (BackgroundReweight, MaskAttention,
                                     ProposalAttention, fpn_levels_of_rois,
                                     mask_features_to_levels, merge_level_maps,
                                     roi_coverage_counts)
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
    maps, counts = mask_features_to_levels(feats, rois, shapes, strides, 2)
    assert [tuple(m.shape) for m in maps] == [(2, 3, 32, 32), (2, 3, 16, 16),
                                              (2, 3, 8, 8), (2, 3, 4, 4)]
    assert [tuple(c.shape) for c in counts] == [(2, 1, 32, 32),
                                                (2, 1, 16, 16), (2, 1, 8, 8),
                                                (2, 1, 4, 4)]
    # RoI 0 (sqrt(wh) ~ 36) -> level 0, RoI 1 (160) -> level 1; one RoI
    # per pixel: RoIUpsample's own output
    torch.testing.assert_close(
        maps[0], roi_upsample(feats[:1], rois[:1], (2, 32, 32), 0.25))
    torch.testing.assert_close(
        maps[1], roi_upsample(feats[1:], rois[1:], (2, 16, 16), 0.125))
    assert maps[2].abs().sum() == 0 and maps[3].abs().sum() == 0
    assert counts[0].max() == 1 and counts[2].sum() == 0


def _footprint(rois, out_shape, scale, roi_size=7):
    """Pixels each RoI reaches, from the reference RoIUpsample of ones."""
    ones = torch.ones(rois.shape[0], 1, roi_size, roi_size,
                      dtype=torch.float64)
    return torch.stack([
        roi_upsample(ones[k:k + 1], rois[k:k + 1], out_shape, scale,
                     implementation='pytorch') > 0
        for k in range(rois.shape[0])
    ])  # (N, B, 1, H, W)


def test_roi_coverage_counts_match_footprints():
    gen = torch.Generator().manual_seed(3)
    xy = torch.rand(12, 2, generator=gen, dtype=torch.float64) * 50 - 5
    wh = torch.rand(12, 2, generator=gen, dtype=torch.float64) * 40 + 1
    rois = torch.cat([
        torch.randint(0, 2, (12, 1), generator=gen).double(), xy, xy + wh
    ], 1)
    out_shape = (2, 12, 14)
    counts = roi_coverage_counts(rois, (7, 7), out_shape, 0.25)
    expected = _footprint(rois, out_shape, 0.25).sum(0).double()
    torch.testing.assert_close(counts, expected)
    empty = roi_coverage_counts(rois[:0], (7, 7), out_shape, 0.25)
    assert empty.shape == (2, 1, 12, 14) and empty.sum() == 0


def test_overlapping_rois_are_averaged():
    shapes, strides = [(16, 16)], [4]
    gen = torch.Generator().manual_seed(0)
    feats = torch.rand(2, 3, 7, 7, generator=gen, dtype=torch.float64) + 0.1
    rois = torch.tensor([[0, 4., 4., 40., 36.], [0, 20., 12., 60., 52.]],
                        dtype=torch.float64)
    single = [
        roi_upsample(feats[k:k + 1], rois[k:k + 1], (1, 16, 16), 0.25)
        for k in range(2)
    ]
    # k copies of one RoI give that RoI's map, not k times it
    copies = mask_features_to_levels(feats[:1].expand(5, -1, -1, -1),
                                     rois[:1].expand(5, -1), shapes, strides,
                                     1, finest_scale=1000)[0][0]
    torch.testing.assert_close(copies, single[0])
    # two different RoIs: each pixel the mean of the RoIs that reach it
    maps, counts = mask_features_to_levels(
        feats, rois, shapes, strides, 1, finest_scale=1000)
    count = _footprint(rois, (1, 16, 16), 0.25).sum(0).double()
    torch.testing.assert_close(counts[0], count)
    torch.testing.assert_close(maps[0],
                               (single[0] + single[1]) / count.clamp(min=1))
    assert count.max() == 2  # the two RoIs do overlap


@pytest.mark.parametrize('num_rois', [1, 8])
def test_one_objects_guidance_has_one_scale(num_rois):
    """Training feeds MAM the positive RoIs of an object (many, jittered),
    testing its detection (one): the guidance inside the object must have
    the same scale in both. Summing the overlapping RoIs (RoIUpsample
    alone) gave ``num_rois`` times the scale."""
    feats = torch.full((1, 2, 14, 14), 3.0, dtype=torch.float64)
    box = torch.tensor([0, 20., 24., 84., 80.], dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    jitter = (torch.rand(num_rois, 4, generator=gen, dtype=torch.float64) -
              0.5) * 6  # +-3 px: IoU with the box > 0.8
    train_rois = box.repeat(num_rois, 1)
    train_rois[:, 1:] += jitter
    train_rois[0, 1:] = box[1:]
    shapes, strides = [(32, 32), (16, 16), (8, 8), (4, 4)], [4, 8, 16, 32]
    test_maps, test_counts = mask_features_to_levels(feats, box[None], shapes,
                                                     strides, 1)
    train_maps, train_counts = mask_features_to_levels(
        feats.expand(num_rois, -1, -1, -1), train_rois, shapes, strides, 1)
    test_merged = merge_level_maps(test_maps, test_counts)
    train_merged = merge_level_maps(train_maps, train_counts)
    # the object at stride 4: x 5-21, y 6-20; its inside
    inner = (slice(None), slice(None), slice(8, 18), slice(7, 19))
    assert test_counts[0].max() == 1  # the object is on level 0
    for train, test in ((train_maps[0], test_maps[0]),
                        (train_merged, test_merged)):
        ratio = train[inner].mean() / test[inner].mean()
        assert 0.9 < ratio < 1.1, float(ratio)


def test_merge_level_maps_averages_levels_that_reach_a_pixel():
    fine = torch.zeros(1, 1, 4, 4)
    fine[..., :2] = 2.0  # level 0 reaches the left half only
    fine_count = torch.zeros(1, 1, 4, 4)
    fine_count[..., :2] = 3
    coarse = torch.full((1, 1, 2, 2), 5.0)  # level 1 everywhere
    coarse_count = torch.ones(1, 1, 2, 2)
    empty, empty_count = torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, 1)
    merged = merge_level_maps([fine, coarse, empty],
                              [fine_count, coarse_count, empty_count])
    expected = torch.full((1, 1, 4, 4), 5.0)
    expected[..., :2] = (2.0 + 5.0) / 2
    torch.testing.assert_close(merged, expected)
    # one level alone: its upsampled map (nothing divides it)
    torch.testing.assert_close(
        merge_level_maps([torch.zeros(1, 1, 4, 4), coarse],
                         [torch.zeros(1, 1, 4, 4), coarse_count]),
        torch.full((1, 1, 4, 4), 5.0))
