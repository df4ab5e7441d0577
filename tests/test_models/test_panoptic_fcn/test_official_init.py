"""Initialisation of Panoptic FCN against transcriptions of the official
code (dvlab-research/PanopticFCN, commit f4141c3, on detectron2): the same
seed gives the same tensors.

The official layers are transcribed here as references only.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from mmcv.ops import DeformConv2dPack
from mmengine.config import Config
from torch import nn

from mmpanoptic.models.panoptic_fcn import (FeatureEncoder, KernelHead,
                                            PositionHead, SemanticFPNFeature)
from mmpanoptic.models.panoptic_fcn.kernel_generator import (
    conv_stack, official_conv_init)
from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules
from mmpanoptic.utils.config_path import find_config

register_all_modules()


# ----------------------------------------------------------- transcriptions
class D2Conv2d(nn.Conv2d):
    """detectron2 ``layers.Conv2d``: ``nn.Conv2d`` (PyTorch's default
    init) with an optional norm and activation."""

    def __init__(self, *args, norm=None, activation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.activation = activation

    def forward(self, x):
        x = super().forward(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


class D2ModulatedDeformConv(nn.Module):
    """The parameters of detectron2's ``ModulatedDeformConv`` (detectron2
    v0.3, detectron2/layers/deform_conv.py, lines 405-453): weight
    ``kaiming_uniform_(nonlinearity='relu')``, bias 0."""

    def __init__(self, in_channels, out_channels, kernel_size, bias=True):
        super().__init__()
        self.weight = nn.Parameter(
            torch.Tensor(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.Tensor(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight, nonlinearity='relu')
        if self.bias is not None:
            nn.init.constant_(self.bias, 0)


class ModulatedDeformConvWithOff(nn.Module):
    """panopticfcn/deform_conv_with_off.py, lines 34-53: a plain
    ``nn.Conv2d`` for offsets and masks (PyTorch's default init), built
    before the deformable conv."""

    def __init__(self, in_channels, out_channels, kernel_size=3, bias=True):
        super().__init__()
        self.offset_mask_conv = nn.Conv2d(
            in_channels, 3 * kernel_size * kernel_size, kernel_size, padding=1)
        self.dcnv2 = D2ModulatedDeformConv(
            in_channels, out_channels, kernel_size, bias=bias)


class SingleHead(nn.Module):
    """panopticfcn/head.py, lines 11-52 (``get_norm('GN')`` is
    ``GroupNorm(32, C)``)."""

    def __init__(self,
                 in_channel,
                 conv_dims,
                 num_convs,
                 deform=False,
                 coord=False,
                 norm=''):
        super().__init__()
        self.coord = coord
        self.conv_norm_relus = []
        for k in range(num_convs):
            in_dims = in_channel if k == 0 else conv_dims
            if deform:
                conv = ModulatedDeformConvWithOff(
                    in_dims, conv_dims, 3, bias=not norm)
            else:
                conv = D2Conv2d(
                    in_dims,
                    conv_dims,
                    kernel_size=3,
                    stride=1,
                    padding=1,
                    bias=not norm,
                    norm=nn.GroupNorm(32, conv_dims) if norm else None,
                    activation=F.relu)
            self.add_module(f'head_{k + 1}', conv)
            self.conv_norm_relus.append(conv)

    def forward(self, x):
        if self.coord:
            x = self.coord_conv(x)
        for layer in self.conv_norm_relus:
            x = layer(x)
        return x

    def coord_conv(self, feat):
        x_pos = torch.linspace(-1, 1, feat.shape[-2])
        y_pos = torch.linspace(-1, 1, feat.shape[-1])
        grid_x, grid_y = torch.meshgrid(x_pos, y_pos, indexing='ij')
        grid_x = grid_x[None, None].expand(feat.shape[0], -1, -1, -1)
        grid_y = grid_y[None, None].expand(feat.shape[0], -1, -1, -1)
        return torch.cat([feat, grid_x, grid_y], dim=1)


def c2_xavier_fill(module):
    """fvcore ``c2_xavier_fill`` (the official FPN and P6/P7 convs:
    detectron2 v0.3, detectron2/modeling/backbone/fpn.py, lines 78-79;
    panopticfcn/backbone_utils.py, line 80)."""
    nn.init.kaiming_uniform_(module.weight, a=1)
    if module.bias is not None:
        nn.init.constant_(module.bias, 0)


def c2_msra_fill(module):
    """fvcore ``c2_msra_fill`` (the official semantic FPN convs:
    panopticfcn/backbone_utils.py, line 49)."""
    nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
    if module.bias is not None:
        nn.init.constant_(module.bias, 0)


# -------------------------------------------------------------------- tests
def test_kernel_head_convs_are_the_official_ones():
    """KernelHead: coordinates + 3 x (conv, GN, ReLU) as the official
    ``SingleHead(coord=True, norm='GN')`` (head.py, lines 92-115): PyTorch's
    default conv init, where mmcv's ConvModule draws Kaiming-normal
    (fan_out); the output conv N(0, 0.01), bias 0."""
    torch.manual_seed(3)
    official = SingleHead(64 + 2, 64, 3, coord=True, norm='GN')
    ours = KernelHead(in_channels=64, channels=64, num_convs=3)
    torch.manual_seed(3)
    ours.init_weights()
    for conv_module, reference in zip(ours.convs, official.conv_norm_relus):
        assert torch.equal(conv_module.conv.weight, reference.weight)
        assert conv_module.conv.bias is None and reference.bias is None
    assert ours.out_conv.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert ours.out_conv.bias.abs().sum() == 0


def test_position_head_deformable_convs_and_offsets_are_the_official_ones():
    """PositionHead with modulated deformable convs as the official one
    (head.py, lines 55-83; deform_conv_with_off.py, lines 34-53): offset
    conv at PyTorch's default (mmcv zeroes it), DCN weight detectron2's
    ``kaiming_uniform_`` (deform_conv.py, line 451), outputs N(0, 0.01)
    with bias -2.19."""
    torch.manual_seed(5)
    official = SingleHead(32, 32, 3, deform=True, norm='GN')
    ours = PositionHead(
        in_channels=32,
        num_things_classes=3,
        num_stuff_channels=4,
        channels=32,
        num_convs=3,
        deformable=True)
    torch.manual_seed(5)
    ours.init_weights()
    for conv_module, reference in zip(ours.convs, official.conv_norm_relus):
        conv = conv_module.conv
        assert torch.equal(conv.conv_offset.weight,
                           reference.offset_mask_conv.weight)
        assert torch.equal(conv.conv_offset.bias,
                           reference.offset_mask_conv.bias)
        assert torch.equal(conv.weight, reference.dcnv2.weight)
        assert conv.bias is None and reference.dcnv2.bias is None
    assert ours.convs[0].conv.conv_offset.weight.abs().sum() > 0
    for layer in (ours.things_out, ours.stuff_out):
        assert layer.bias.tolist() == pytest.approx([-2.19] * len(layer.bias))
        assert layer.weight.abs().max() < 0.1


@pytest.mark.parametrize('deformable', [False, True])
def test_feature_encoder_matches_the_official_encoder(deformable):
    """FeatureEncoder = the official ``SingleHead(coord=True, norm='')``
    (head.py, lines 123-146): same tensors from the same seed and, for the
    plain encoder, the same encoded feature (mmcv's Kaiming-normal fan_out
    init made it about 16x larger at the start)."""
    torch.manual_seed(11)
    official = SingleHead(16 + 2, 8, 3, deform=deformable, coord=True)
    ours = FeatureEncoder(
        in_channels=16, channels=8, num_convs=3, deformable=deformable)
    torch.manual_seed(11)
    ours.init_weights()
    for conv_module, reference in zip(ours.convs, official.conv_norm_relus):
        conv = conv_module.conv
        if deformable:
            assert torch.equal(conv.conv_offset.weight,
                               reference.offset_mask_conv.weight)
            reference = reference.dcnv2
        assert torch.equal(conv.weight, reference.weight)
        assert torch.equal(conv.bias, reference.bias)
    if not deformable:
        x = torch.randn(2, 16, 12, 10)
        assert torch.allclose(ours(x), official(x), atol=1e-6)


def test_semantic_fpn_keeps_the_official_msra_fill():
    """SemanticFPNFeature's convs (mmcv ConvModule, built in the official
    order) equal the official ``SemanticFPN`` convs after
    ``c2_msra_fill`` (backbone_utils.py, lines 32-49) from the same seed."""
    torch.manual_seed(2)
    references = []
    for level in range(4):
        for k in range(max(1, level)):
            conv = nn.Conv2d(32, 32, 3, padding=1, bias=False)
            c2_msra_fill(conv)
            references.append(conv)
    torch.manual_seed(2)
    ours = SemanticFPNFeature(
        in_channels=32,
        channels=32,
        norm_cfg=dict(type='GN', num_groups=8, requires_grad=True))
    ours.init_weights()
    convs = [
        conv_module.conv for branch in ours.scale_branches
        for conv_module in branch.conv
    ]
    assert len(convs) == len(references) == 7
    for conv, reference in zip(convs, references):
        assert torch.equal(conv.weight, reference.weight)


def test_fpn_of_the_coco_config_uses_the_official_xavier_fill():
    """The R50 configs' FPN (lateral, output and P6/P7 convs) as detectron2's
    ``c2_xavier_fill`` (Kaiming-uniform a = 1, bias 0): the same tensors
    from the same seed, in mmengine's layer order."""
    cfg = Config.fromfile(find_config('panoptic-fcn_r50_fpn_8xb2-90k_coco.py'))
    neck = MODELS.build(cfg.model.neck)
    convs = [m.conv
             for m in neck.lateral_convs] + [m.conv for m in neck.fpn_convs]
    assert len(convs) == 4 + 6
    references = []
    for conv in convs:
        reference = nn.Conv2d(conv.in_channels, conv.out_channels,
                              conv.kernel_size)
        references.append(reference)
    torch.manual_seed(4)
    neck.init_weights()
    torch.manual_seed(4)
    for reference in references:
        c2_xavier_fill(reference)
    for conv, reference in zip(convs, references):
        assert torch.equal(conv.weight, reference.weight)
        assert conv.bias.abs().sum() == 0
    # the 2048-channel lateral: bound sqrt(3 / fan_in), not Xavier's
    # sqrt(6 / (fan_in + fan_out))
    assert convs[3].weight.abs().max() <= math.sqrt(3 / 2048)


def test_model_init_reaches_every_head_stack():
    """``PanopticFCN.init_weights`` initialises the position head, kernel
    head and encoder stacks as above (PyTorch's default bound
    1 / sqrt(fan_in) for plain convs, with non-zero biases in the
    encoder)."""
    cfg = Config.fromfile(
        find_config('panoptic-fcn_r18_fpn_1xb4-800i_synthetic.py'))
    model = MODELS.build(cfg.model)
    model.init_weights()
    head = model.panoptic_head
    for stack in (head.position_head.convs, head.kernel_head.convs,
                  head.feature_encoder.convs):
        for conv_module in stack:
            conv = conv_module.conv
            bound = 1 / math.sqrt(conv.weight[0].numel())
            assert conv.weight.abs().max() <= bound
            assert conv.weight.abs().max() > 0.9 * bound
    assert head.feature_encoder.convs[0].conv.bias.abs().sum() > 0


def test_unsupported_conv_type_is_named():
    convs = conv_stack(4, 4, 1, dict(type='DCN', deform_groups=1),
                       dict(type='GN', num_groups=2))
    assert isinstance(convs[0].conv, DeformConv2dPack)
    with pytest.raises(TypeError, match='DeformConv2dPack'):
        official_conv_init(convs)
