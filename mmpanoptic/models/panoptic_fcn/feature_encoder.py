"""Feature encoder of Panoptic FCN (paper Sec. 3.3): semantic FPN over
P2..P5 to the high-resolution feature F^h, then coordinates and convs to the
encoded feature F^e."""
from typing import Sequence

import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.models.layers import ConvUpsample
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmpanoptic.ops import GridSampleModulatedDeformConv2dPack  # noqa: F401
from mmpanoptic.registry import MODELS

from .kernel_generator import add_coordinates, official_conv_init


@MODELS.register_module()
class SemanticFPNFeature(BaseModule):
    """Semantic FPN (Panoptic FPN) merge of P2..P5 at 1/4 (Table 5).

    Level i (stride 4 * 2^i) goes through max(1, i) x (3x3 conv, GN, ReLU),
    each of the first i followed by 2x bilinear upsampling (mmdet's
    ``ConvUpsample``); the results are summed. The convs keep mmcv's
    Kaiming-normal (fan_out, ReLU) init, the official ``c2_msra_fill``.

    Args:
        in_channels (int): FPN channels. channels (int): Defaults to 256.
        num_levels (int): Defaults to 4 (P2..P5).
        norm_cfg (dict): Defaults to GN with 32 groups.
    """

    def __init__(self,
                 in_channels: int = 256,
                 channels: int = 256,
                 num_levels: int = 4,
                 norm_cfg: ConfigType = dict(
                     type='GN', num_groups=32, requires_grad=True),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.scale_branches = nn.ModuleList([
            ConvUpsample(
                in_channels,
                channels,
                num_layers=max(level, 1),
                num_upsample=level,
                norm_cfg=norm_cfg) for level in range(num_levels)
        ])

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        """P2..P5 -> (N, channels, H/4, W/4)."""
        if len(features) != len(self.scale_branches):
            raise ValueError(f'expected {len(self.scale_branches)} levels, '
                             f'got {len(features)}')
        merged = self.scale_branches[0](features[0])
        for branch, feature in zip(self.scale_branches[1:], features[1:]):
            merged = merged + branch(feature)
        return merged


@MODELS.register_module()
class FeatureEncoder(BaseModule):
    """Encoded feature F^e: coordinates + ``num_convs`` x (3x3 conv, ReLU).

    64 channels, plain convs, no norm in the default model (Table 4); the
    enhanced model "*" uses modulated deformable convs and 256 channels
    (Table 8). The convs start as the official ones
    (:func:`official_conv_init`).

    Args:
        in_channels (int): channels of F^h. channels (int): C_e.
        num_convs (int): Defaults to 3. with_coordinates (bool): Table 2.
        deformable (bool): DCNv2 convs (mmcv's on CUDA, grid-sample on
            CPU: ``DCNv2GridSample``). Defaults to False.
        upsample_ratio (int): F^h is upsampled bilinearly by this factor
            before the convs, so F^e (and every mask) has stride 4 / ratio.
            1 (the paper's 1/4) by default and in every config; 2 gives
            finer masks for small inputs at 4x the encoder's cost.
    """

    def __init__(self,
                 in_channels: int = 256,
                 channels: int = 64,
                 num_convs: int = 3,
                 with_coordinates: bool = True,
                 deformable: bool = False,
                 upsample_ratio: int = 1,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if int(upsample_ratio) != upsample_ratio or upsample_ratio < 1:
            raise ValueError('upsample_ratio must be a positive integer, '
                             f'got {upsample_ratio!r}')
        self.upsample_ratio = int(upsample_ratio)
        self.with_coordinates = with_coordinates
        conv_cfg = dict(type='DCNv2GridSample', deform_groups=1) \
            if deformable else None
        first_in = in_channels + 2 * int(with_coordinates)
        self.convs = nn.Sequential(*[
            ConvModule(
                first_in if i == 0 else channels,
                channels,
                3,
                padding=1,
                conv_cfg=conv_cfg) for i in range(num_convs)
        ])

    def init_weights(self) -> None:
        super().init_weights()
        official_conv_init(self.convs)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) -> (N, C_e, H * ratio, W * ratio)."""
        if self.upsample_ratio > 1:
            x = F.interpolate(
                x,
                scale_factor=self.upsample_ratio,
                mode='bilinear',
                align_corners=False)
        if self.with_coordinates:
            x = add_coordinates(x)
        return self.convs(x)
