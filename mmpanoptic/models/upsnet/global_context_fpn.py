"""FPN with a global context on the top level (UPSNet on COCO, paper 4.1:
"a global average pooling over the feature map of ... 'res5', reduce its
dimension to 256 and add back to FPN before producing P5")."""
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.models.necks import FPN
from torch import Tensor

from mmpanoptic.registry import MODELS


class GlobalContextLateral(nn.Module):
    """``lateral(x) + context(GAP(x))``: the top lateral 1x1 conv plus the
    reduced global average of its input, broadcast over the map, so the
    context flows down the top-down path and into every level."""

    def __init__(self, lateral: nn.Module, in_channels: int,
                 out_channels: int) -> None:
        super().__init__()
        self.lateral = lateral
        self.context = ConvModule(
            in_channels, out_channels, 1, norm_cfg=None, act_cfg=None)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C_in, H, W) -> (B, C_out, H, W)."""
        return self.lateral(x) + self.context(F.adaptive_avg_pool2d(x, 1))


@MODELS.register_module()
class GlobalContextFPN(FPN):
    """mmdet's FPN whose top lateral gets the global-average-pooled context
    of the last backbone stage (see :class:`GlobalContextLateral`).

    Args:
        **kwargs: mmdet ``FPN`` arguments.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        top = len(self.lateral_convs) - 1
        self.lateral_convs[top] = GlobalContextLateral(
            self.lateral_convs[top],
            self.in_channels[self.start_level + top], self.out_channels)
