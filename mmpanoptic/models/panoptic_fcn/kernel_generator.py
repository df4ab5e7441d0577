"""Kernel generator of Panoptic FCN (paper Sec. 3.1): position head and
kernel head, shared over the FPN levels P3..P7."""
from typing import Tuple

import torch
from mmcv.cnn import ConvModule
from mmcv.ops import ModulatedDeformConv2dPack
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule, normal_init
from torch import Tensor, nn

from mmpanoptic.ops import GridSampleModulatedDeformConv2dPack  # noqa: F401
from mmpanoptic.registry import MODELS


def add_coordinates(feature: Tensor) -> Tensor:
    """Concatenate relative coordinates in [-1, 1] (CoordConv).

    The row coordinate comes first, then the column coordinate (the official
    code's order). (N, C, H, W) -> (N, C + 2, H, W).
    """
    num, _, height, width = feature.shape
    rows = torch.linspace(
        -1, 1, height, device=feature.device, dtype=feature.dtype)
    cols = torch.linspace(
        -1, 1, width, device=feature.device, dtype=feature.dtype)
    grid_rows, grid_cols = torch.meshgrid(rows, cols, indexing='ij')
    coords = torch.stack([grid_rows, grid_cols])[None].expand(num, -1, -1, -1)
    return torch.cat([feature, coords], dim=1)


def conv_stack(in_channels: int, channels: int, num_convs: int,
               conv_cfg: OptConfigType,
               norm_cfg: OptConfigType) -> nn.Sequential:
    """``num_convs`` x (3x3 conv, norm, ReLU)."""
    return nn.Sequential(*[
        ConvModule(
            in_channels if i == 0 else channels,
            channels,
            3,
            padding=1,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg) for i in range(num_convs)
    ])


def official_conv_init(convs: nn.Sequential) -> None:
    """Initialise a :func:`conv_stack` as the official code's ``SingleHead``.

    Its detectron2 ``Conv2d`` layers keep PyTorch's default init
    (``nn.Conv2d.reset_parameters``: weight and bias uniform in
    +-1/sqrt(fan_in)) where mmcv's ``ConvModule`` uses Kaiming-normal
    (fan_out). A modulated deformable conv gets detectron2's
    ``ModulatedDeformConv`` init (weight ``kaiming_uniform_`` for ReLU, bias
    0), and its offset/mask conv PyTorch's default where mmcv zeroes it.
    Layers are drawn in the official construction order (offset conv before
    its deformable conv), so one seed gives the official tensors.
    """
    for conv_module in convs:
        conv = conv_module.conv
        if isinstance(conv, ModulatedDeformConv2dPack):
            conv.conv_offset.reset_parameters()
            nn.init.kaiming_uniform_(conv.weight, nonlinearity='relu')
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)
        elif isinstance(conv, nn.Conv2d):
            conv.reset_parameters()
        else:
            raise TypeError('official_conv_init handles nn.Conv2d and '
                            'modulated deformable convs, got '
                            f'{type(conv).__name__}')


@MODELS.register_module()
class PositionHead(BaseModule):
    """Position head: object centres and stuff regions (Sec. 3.1).

    ``num_convs`` x (3x3 conv, GN, ReLU) on X_i, then two 3x3 output convs:
    the things heatmap L^th (``num_things_classes`` channels) and the stuff
    map L^st (``num_stuff_channels``). The stacked convs start as the
    official ones (:func:`official_conv_init`), the outputs at N(0, 0.01)
    with the prior-probability bias -2.19 (p = 0.1 as in the official code).

    Args:
        in_channels (int): FPN channels.
        num_things_classes (int): N_th.
        num_stuff_channels (int): N_st (+1 for the
            "all things" channel of the official code).
        channels (int): Defaults to 256. num_convs (int): Defaults to 3.
        deformable (bool): modulated deformable convs (``DCNv2GridSample``:
            mmcv's ``DCNv2`` on CUDA, grid-sample on CPU) in the
            stacked convs (the full model; Table 1). Defaults to True.
        norm_cfg (dict): Defaults to GN with 32 groups.
        prior_bias (float): Defaults to -2.19.
    """

    def __init__(self,
                 in_channels: int = 256,
                 num_things_classes: int = 80,
                 num_stuff_channels: int = 54,
                 channels: int = 256,
                 num_convs: int = 3,
                 deformable: bool = True,
                 norm_cfg: ConfigType = dict(
                     type='GN', num_groups=32, requires_grad=True),
                 prior_bias: float = -2.19,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        conv_cfg = dict(type='DCNv2GridSample', deform_groups=1) \
            if deformable else None
        self.convs = conv_stack(in_channels, channels, num_convs, conv_cfg,
                                norm_cfg)
        self.things_out = nn.Conv2d(channels, num_things_classes, 3, padding=1)
        self.stuff_out = nn.Conv2d(channels, num_stuff_channels, 3, padding=1)
        self.prior_bias = prior_bias

    def init_weights(self) -> None:
        super().init_weights()
        official_conv_init(self.convs)
        for layer in (self.things_out, self.stuff_out):
            normal_init(layer, mean=0, std=0.01, bias=self.prior_bias)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """(N, C, H, W) -> things (N, T, H, W), stuff (N, S', H, W) logits."""
        x = self.convs(x)
        return self.things_out(x), self.stuff_out(x)


@MODELS.register_module()
class KernelHead(BaseModule):
    """Kernel head: the kernel weight map G_i (Sec. 3.1).

    Coordinates concatenated to X_i, ``num_convs`` x (3x3 conv, GN, ReLU)
    (initialised by :func:`official_conv_init`), and a plain 3x3 output conv
    (init N(0, 0.01)).

    Args:
        in_channels (int): FPN channels. channels (int): C of G_i.
        num_convs (int): Defaults to 3. with_coordinates (bool): Table 2.
        norm_cfg (dict): Defaults to GN with 32 groups.
    """

    def __init__(self,
                 in_channels: int = 256,
                 channels: int = 256,
                 num_convs: int = 3,
                 with_coordinates: bool = True,
                 norm_cfg: ConfigType = dict(
                     type='GN', num_groups=32, requires_grad=True),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.with_coordinates = with_coordinates
        self.convs = conv_stack(in_channels + 2 * int(with_coordinates),
                                channels, num_convs, None, norm_cfg)
        self.out_conv = nn.Conv2d(channels, channels, 3, padding=1)

    def init_weights(self) -> None:
        super().init_weights()
        official_conv_init(self.convs)
        normal_init(self.out_conv, mean=0, std=0.01, bias=0)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) -> (N, C, H, W) kernel weight map."""
        if self.with_coordinates:
            x = add_coordinates(x)
        return self.out_conv(self.convs(x))
