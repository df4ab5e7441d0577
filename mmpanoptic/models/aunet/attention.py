"""AUNet's attention modules: the attention shared by PAM and MAM
(eq. (1)-(2)), the background reweight (eq. (3)-(4)), PAM (sec. 3.3.1,
Fig. 3), MAM (sec. 3.3.2, Fig. 5) and the mapping of FG mask features back
onto the FPN levels with RoIUpsample (overlapping RoIs averaged), merged
into one map for a single MAM."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from mmpanoptic.ops import roi_axis_footprints, roi_upsample
from mmpanoptic.registry import MODELS


class SpatialBackgroundAttention(BaseModule):
    """FG map from a guidance feature, BG emphasis and reweighting.

    ``M = f(relu(f(G, w_1)), w_2)`` (eq. (1)), ``M' = 1 - sigmoid(M)``,
    ``S' = S * M' + S`` (eq. (2)), then optionally the background reweight
    ``S'' = S' * sigmoid(GN(f(GAP(S'), w_3)))`` (eq. (3)-(4)).

    Args:
        guide_channels (int): channels of the guidance feature G (C_r for
            PAM, C_m for MAM).
        feat_channels (int): C_s, channels of the BG feature S.
        hidden_channels (int, optional): C'_r, output channels of the first
            1x1 conv; the paper does not give it: ``guide_channels // 4``
            by default.
        use_reweight (bool): apply the background reweight ("rewt" in
            Table 1).
        norm_cfg (dict): normalisation of the reweight function (GN).
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 guide_channels: int,
                 feat_channels: int,
                 hidden_channels: Optional[int] = None,
                 use_reweight: bool = True,
                 norm_cfg: ConfigType = dict(
                     type='GN', num_groups=32, requires_grad=True),
                 init_cfg: OptMultiConfig = dict(
                     type='Kaiming', layer='Conv2d', a=1,
                     distribution='uniform')) -> None:
        super().__init__(init_cfg=init_cfg)
        hidden_channels = hidden_channels or max(guide_channels // 4, 1)
        self.guide_conv = nn.Conv2d(guide_channels, hidden_channels, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fg_logit_conv = nn.Conv2d(hidden_channels, 1, 1)
        self.use_reweight = use_reweight
        self.reweight = BackgroundReweight(
            feat_channels, norm_cfg=norm_cfg) if use_reweight else None

    def foreground_logits(self, guide: Tensor) -> Tensor:
        """G (B, C_g, H, W) -> M (B, 1, H, W), eq. (1)."""
        return self.fg_logit_conv(self.relu(self.guide_conv(guide)))

    def forward(self, feat: Tensor, guide: Tensor) -> Tensor:
        """S (B, C_s, H, W) and G (B, C_g, H, W) -> S'' (B, C_s, H, W)."""
        if feat.shape[-2:] != guide.shape[-2:] or \
                feat.shape[0] != guide.shape[0]:
            raise ValueError('BG feature and guidance feature must share '
                             f'batch and spatial size, got '
                             f'{tuple(feat.shape)} and {tuple(guide.shape)}')
        bg_weights = 1 - self.foreground_logits(guide).sigmoid()  # M'
        attended = feat * bg_weights + feat  # eq. (2)
        if self.reweight is not None:
            attended = self.reweight(attended)  # eq. (3)-(4)
        return attended


@MODELS.register_module()
class BackgroundReweight(BaseModule):
    """Channel reweighting of attended BG features.

    ``N = sigmoid(GN(conv1x1(GAP(S'))))`` (eq. (3)) and ``S'' = S' * N``
    channel-wise (eq. (4)).

    Args:
        channels (int): C_s, channels of the BG feature.
        norm_cfg (dict): normalisation after the 1x1 conv; GN in the paper.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 channels: int,
                 norm_cfg: ConfigType = dict(
                     type='GN', num_groups=32, requires_grad=True),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.pool = nn.AdaptiveAvgPool2d(1)  # G(.)
        self.conv = nn.Conv2d(channels, channels, 1)  # w_{i,3}
        self.norm = build_norm_layer(norm_cfg, channels)[1]

    def channel_weights(self, feat: Tensor) -> Tensor:
        """(B, C_s, H, W) -> N (B, C_s, 1, 1), eq. (3)."""
        return self.norm(self.conv(self.pool(feat))).sigmoid()

    def forward(self, feat: Tensor) -> Tensor:
        """(B, C_s, H, W) -> (B, C_s, H, W), eq. (4)."""
        return feat * self.channel_weights(feat)


@MODELS.register_module()
class ProposalAttention(SpatialBackgroundAttention):
    """PAM on one FPN level: the guidance is the RPN branch feature P_i
    (the RPN head's 3x3 conv + ReLU output, C_r channels), so the semantic
    loss also trains the RPN conv. Equations (1)-(4), see
    :class:`SpatialBackgroundAttention`."""


@MODELS.register_module()
class MaskAttention(SpatialBackgroundAttention):
    """MAM: the guidance is the C_m x W' x H' map of FG mask features put
    back at their RoIs by RoIUpsample (:func:`mask_features_to_levels`,
    merged over the levels by :func:`merge_level_maps`, or one MAM per
    level), so the semantic loss also trains the mask branch. Same
    attention + reweight as PAM (eq. (1)-(4))."""


def fpn_levels_of_rois(rois: Tensor, num_levels: int,
                       finest_scale: int = 56) -> Tensor:
    """FPN level of every RoI (FPN paper eq. (1), mmdet's
    ``SingleRoIExtractor.map_roi_levels``): ``floor(log2(sqrt(wh) /
    finest_scale))`` clamped to ``[0, num_levels - 1]``.

    Args:
        rois (Tensor): (N, 5) ``(batch_index, x1, y1, x2, y2)``.

    Returns:
        Tensor: (N, ) long level indices.
    """
    scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
    levels = torch.floor(torch.log2(scale / finest_scale + 1e-6))
    return levels.clamp(min=0, max=num_levels - 1).long()


def roi_coverage_counts(rois: Tensor, roi_size: Tuple[int, int],
                        out_shape: Sequence[int], spatial_scale: float,
                        sampling_ratio: int = 2) -> Tensor:
    """How many RoIs RoIUpsample reaches every pixel from.

    A RoI reaches the pixels its sample points scatter to with a non-zero
    eq. (5) weight (:func:`roi_axis_footprints`, the geometry of
    :func:`roi_upsample`); each RoI counts once per pixel.

    Args:
        rois (Tensor): (N, 5) ``(batch_index, x1, y1, x2, y2)``.
        roi_size (tuple[int, int]): (m_h, m_w) bins per RoI.
        out_shape (Sequence[int]): ``(B, H, W)``.
        spatial_scale (float): 1 / stride.
        sampling_ratio (int): sample points per bin per axis.

    Returns:
        Tensor: (B, 1, H, W) counts, in ``rois``' dtype.
    """
    batch, height, width = (int(v) for v in out_shape)
    rows, cols = roi_axis_footprints(rois, tuple(roi_size), (height, width),
                                     spatial_scale, sampling_ratio)
    image = F.one_hot(rois[:, 0].long(), batch).to(rois.dtype)  # (N, B)
    # sum over RoIs of (their image) x rows x cols: (B H, N) @ (N, W)
    image_rows = image[:, :, None] * rows[:, None, :].to(rois.dtype)
    counts = image_rows.reshape(-1, batch * height).t() @ cols.to(rois.dtype)
    return counts.view(batch, 1, height, width)


def mask_features_to_levels(mask_feats: Tensor,
                            rois: Tensor,
                            level_shapes: Sequence[Tuple[int, int]],
                            strides: Sequence[int],
                            batch_size: int,
                            finest_scale: int = 56,
                            sampling_ratio: int = 2
                            ) -> Tuple[List[Tensor], List[Tensor]]:
    """RoIUpsample FG mask features to the FPN level of their RoI, the
    overlapping RoIs of a level averaged.

    RoIUpsample adds what overlapping RoIs put on a pixel. Training feeds
    MAM every positive RoI (often 5-20 per object) and testing one or two
    detections per object, so the sum would give one object's guidance a
    scale that depends on how many RoIs cover it. Each pixel gets the mean
    of the RoIs that reach it instead (:func:`roi_coverage_counts`): one
    RoI alone is RoIUpsample's own output, k copies of it give the same.

    Args:
        mask_feats (Tensor): (N, C_m, m, m) mask branch features.
        rois (Tensor): (N, 5) RoIs in input-image coordinates.
        level_shapes (Sequence[tuple]): (H_l, W_l) of every level.
        strides (Sequence[int]): stride of every level.
        batch_size (int): B.
        finest_scale (int): FPN assignment scale (56 as in mmdet).
        sampling_ratio (int): RoIUpsample points per bin per axis.

    Returns:
        tuple[list[Tensor], list[Tensor]]: per level the guidance
        (B, C_m, H_l, W_l), zero where no RoI of that level reaches, and
        the coverage counts (B, 1, H_l, W_l).
    """
    levels = fpn_levels_of_rois(rois, len(level_shapes), finest_scale)
    maps, counts = [], []
    for level, ((height, width), stride) in enumerate(
            zip(level_shapes, strides)):
        in_level = levels == level
        out_shape = (batch_size, height, width)
        summed = roi_upsample(mask_feats[in_level], rois[in_level], out_shape,
                              1.0 / stride, sampling_ratio)
        count = roi_coverage_counts(rois[in_level], mask_feats.shape[-2:],
                                    out_shape, 1.0 / stride, sampling_ratio)
        maps.append(summed / count.clamp(min=1))
        counts.append(count)
    return maps, counts


def merge_level_maps(maps: Sequence[Tensor],
                     counts: Sequence[Tensor]) -> Tensor:
    """The per-level guidance upsampled (bilinear) to the finest level and
    averaged over the levels that reach each pixel: the single W' x H' FG
    map of MAM after the levels are merged (sec. 3.3.2, Fig. 5).

    Args:
        maps (Sequence[Tensor]): per level (B, C_m, H_l, W_l), level 0 the
            finest (from :func:`mask_features_to_levels`).
        counts (Sequence[Tensor]): per level (B, 1, H_l, W_l) coverage.

    Returns:
        Tensor: (B, C_m, H_0, W_0).
    """
    size = maps[0].shape[-2:]

    def upsampled(tensor: Tensor) -> Tensor:
        if tensor.shape[-2:] == size:
            return tensor
        return F.interpolate(
            tensor, size=size, mode='bilinear', align_corners=False)

    merged = sum(upsampled(level_map) for level_map in maps)
    # how many levels reach each pixel (fractional at upsampled borders)
    levels_present = sum(
        upsampled((count > 0).to(merged.dtype)) for count in counts)
    return merged / levels_present.clamp(min=1)
