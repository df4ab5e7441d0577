"""The attention shared by AUNet's PAM and MAM (eq. (1)-(4))."""
from typing import Optional

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmdet.utils import ConfigType, OptMultiConfig
from .background_reweight import BackgroundReweight


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
