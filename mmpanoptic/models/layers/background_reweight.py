"""AUNet's background reweight function (sec. 3.3.1, eq. (3)-(4))."""
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from mmpanoptic.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig


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
