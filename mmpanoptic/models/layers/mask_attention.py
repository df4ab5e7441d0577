"""AUNet's Mask Attention Module (MAM, sec. 3.3.2, Fig. 5) and the mapping
of FG mask features back onto the FPN levels with RoIUpsample."""
from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from mmpanoptic.ops import roi_upsample
from mmpanoptic.registry import MODELS
from .spatial_background_attention import SpatialBackgroundAttention


@MODELS.register_module()
class MaskAttention(SpatialBackgroundAttention):
    """MAM on one FPN level: the guidance is the C_m x W' x H' map of FG mask
    features put back at their RoIs by RoIUpsample
    (:func:`mask_features_to_levels`), so the semantic loss also trains the
    mask branch. Same attention + reweight as PAM (eq. (1)-(4))."""


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


def mask_features_to_levels(mask_feats: Tensor,
                            rois: Tensor,
                            level_shapes: Sequence[Tuple[int, int]],
                            strides: Sequence[int],
                            batch_size: int,
                            finest_scale: int = 56,
                            sampling_ratio: int = 2) -> List[Tensor]:
    """RoIUpsample FG mask features to the FPN level of their RoI.

    Args:
        mask_feats (Tensor): (N, C_m, m, m) mask branch features.
        rois (Tensor): (N, 5) RoIs in input-image coordinates.
        level_shapes (Sequence[tuple]): (H_l, W_l) of every level.
        strides (Sequence[int]): stride of every level.
        batch_size (int): B.
        finest_scale (int): FPN assignment scale (56 as in mmdet).
        sampling_ratio (int): RoIUpsample points per bin per axis.

    Returns:
        list[Tensor]: per level (B, C_m, H_l, W_l), zero where no RoI of
        that level reaches.
    """
    levels = fpn_levels_of_rois(rois, len(level_shapes), finest_scale)
    maps = []
    for level, ((height, width), stride) in enumerate(
            zip(level_shapes, strides)):
        in_level = levels == level
        maps.append(
            roi_upsample(mask_feats[in_level], rois[in_level],
                         (batch_size, height, width), 1.0 / stride,
                         sampling_ratio))
    return maps
