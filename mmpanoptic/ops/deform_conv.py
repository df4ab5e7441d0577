"""Deformable convolution v1 (Dai et al. 2017) with vectorised bilinear
sampling, for CPUs.

mmcv's CPU ``deform_conv2d`` loops over every sampled value in C++ and is
~25x slower than a plain 3x3 conv of the same shape (fwd + bwd, UPSNet's
synthetic semantic head); that made deformable models impractical to train
or run on CPUs. :func:`deform_conv2d_grid_sample` computes the same function
with one ``grid_sample`` call over all kernel taps followed by a matrix
product (im2col), and autograd gives its exact gradient.

:class:`GridSampleDeformConv2dPack` is mmcv's ``DeformConv2dPack`` (same
parameters, same state dict, same ``init_offset``) whose forward uses this
path on CPU and mmcv's kernel on CUDA. Registered as conv type
``'DCNGridSample'``; :class:`GridSampleModulatedDeformConv2dPack` does the
same for mmcv's ``ModulatedDeformConv2dPack`` (DCNv2), ``'DCNv2GridSample'``.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmcv.ops import (DeformConv2dPack, ModulatedDeformConv2dPack,
                      deform_conv2d, modulated_deform_conv2d)
from mmengine.registry import MODELS as MMENGINE_MODELS
from torch import Tensor
from torch.nn.modules.utils import _pair


def deform_conv2d_grid_sample(input: Tensor,
                              offset: Tensor,
                              weight: Tensor,
                              stride=1,
                              padding=0,
                              dilation=1,
                              groups: int = 1,
                              deform_groups: int = 1,
                              mask: Optional[Tensor] = None,
                              bias: Optional[Tensor] = None) -> Tensor:
    """Deformable conv v1 (mmcv's ``deform_conv2d``), and v2 with ``mask``
    (mmcv's ``modulated_deform_conv2d``).

    Output pixel (h, w), kernel tap k = (i, j) samples the input bilinearly
    (zero outside) at
    ``(h * s_h - p_h + i * d_h + dy_k, w * s_w - p_w + j * d_w + dx_k)``
    where ``dy_k, dx_k = offset[:, g * 2K + 2k], offset[:, g * 2K + 2k + 1]``
    for the channels of deformable group g (mmcv's layout), then
    ``out = W * columns`` as a convolution's im2col.

    Args:
        input (Tensor): (B, C_in, H, W).
        offset (Tensor): (B, deform_groups * 2 * kh * kw, H_out, W_out).
        weight (Tensor): (C_out, C_in / groups, kh, kw).
        stride, padding, dilation (int | tuple): as a convolution's.
        groups (int): Convolution groups.
        deform_groups (int): Groups of input channels sharing offsets.
        mask (Tensor, optional): (B, deform_groups * kh * kw, H_out, W_out)
            modulation of each sampled value (DCNv2).
        bias (Tensor, optional): (C_out, ).

    Returns:
        Tensor: (B, C_out, H_out, W_out).
    """
    stride_h, stride_w = _pair(stride)
    pad_h, pad_w = _pair(padding)
    dil_h, dil_w = _pair(dilation)
    batch, in_channels, height, width = input.shape
    out_channels, _, kernel_h, kernel_w = weight.shape
    num_taps = kernel_h * kernel_w
    out_h, out_w = offset.shape[-2:]
    if offset.shape[1] != deform_groups * 2 * num_taps:
        raise ValueError(
            f'offset has {offset.shape[1]} channels; expected deform_groups '
            f'({deform_groups}) * 2 * {kernel_h} * {kernel_w}')
    if in_channels % deform_groups or in_channels % groups:
        raise ValueError(f'{in_channels} input channels are not divisible '
                         f'by deform_groups={deform_groups} and '
                         f'groups={groups}')

    # sampling positions (B * G, K, H_out, W_out), rows and columns
    offset = offset.reshape(batch * deform_groups, num_taps, 2, out_h, out_w)
    taps_y = torch.arange(kernel_h, dtype=input.dtype, device=input.device)
    taps_x = torch.arange(kernel_w, dtype=input.dtype, device=input.device)
    base_y = (taps_y * dil_h).repeat_interleave(kernel_w)[:, None, None] + (
        torch.arange(out_h, dtype=input.dtype, device=input.device) *
        stride_h - pad_h)[None, :, None]
    base_x = (taps_x * dil_w).repeat(kernel_h)[:, None, None] + (
        torch.arange(out_w, dtype=input.dtype, device=input.device) *
        stride_w - pad_w)[None, None, :]
    pos_y = base_y + offset[:, :, 0]
    pos_x = base_x + offset[:, :, 1]
    # pixel -> grid_sample coordinates (align_corners=False: exact for any
    # size, also 1 pixel); 'zeros' padding drops out-of-image corners as
    # mmcv's bilinear does
    grid = torch.stack(((2 * pos_x + 1) / width - 1,
                        (2 * pos_y + 1) / height - 1), -1)
    columns = F.grid_sample(
        input.reshape(batch * deform_groups, in_channels // deform_groups,
                      height, width),
        grid.reshape(batch * deform_groups, num_taps * out_h, out_w, 2),
        mode='bilinear',
        padding_mode='zeros',
        align_corners=False)
    if mask is not None:  # DCNv2: one scalar per group, tap and pixel
        columns = columns.reshape(batch * deform_groups, -1, num_taps,
                                  out_h, out_w) * mask.reshape(
                                      batch * deform_groups, 1, num_taps,
                                      out_h, out_w)
    # (B, C_in * K, L), channel-major as the weight's (C_in, kh, kw)
    columns = columns.reshape(batch, groups, in_channels // groups * num_taps,
                              out_h * out_w)
    out = weight.reshape(groups, out_channels // groups, -1) @ columns
    out = out.reshape(batch, out_channels, out_h, out_w)
    if bias is not None:
        out = out + bias[:, None, None]
    return out


@MMENGINE_MODELS.register_module('DCNGridSample')
class GridSampleDeformConv2dPack(DeformConv2dPack):
    """mmcv's ``DeformConv2dPack`` (offsets from a 3x3 conv, same state dict)
    computed by :func:`deform_conv2d_grid_sample` on CPU and by mmcv's
    kernel on CUDA."""

    def forward(self, x: Tensor) -> Tensor:  # type: ignore
        offset = self.conv_offset(x)
        if x.is_cuda:
            return deform_conv2d(x, offset, self.weight, self.stride,
                                 self.padding, self.dilation, self.groups,
                                 self.deform_groups, False, self.im2col_step)
        return deform_conv2d_grid_sample(x, offset, self.weight, self.stride,
                                         self.padding, self.dilation,
                                         self.groups, self.deform_groups)


@MMENGINE_MODELS.register_module('DCNv2GridSample')
class GridSampleModulatedDeformConv2dPack(ModulatedDeformConv2dPack):
    """mmcv's ``ModulatedDeformConv2dPack`` (DCNv2: offsets and sigmoid
    masks from one conv, same state dict) computed by
    :func:`deform_conv2d_grid_sample` on CPU and by mmcv's kernel on CUDA.
    """

    def forward(self, x: Tensor) -> Tensor:  # type: ignore
        offset_y, offset_x, mask = self.conv_offset(x).chunk(3, dim=1)
        offset = torch.cat((offset_y, offset_x), dim=1)  # as mmcv's
        mask = torch.sigmoid(mask)
        if x.is_cuda:
            return modulated_deform_conv2d(x, offset, mask, self.weight,
                                           self.bias, self.stride,
                                           self.padding, self.dilation,
                                           self.groups, self.deform_groups)
        return deform_conv2d_grid_sample(x, offset, self.weight, self.stride,
                                         self.padding, self.dilation,
                                         self.groups, self.deform_groups,
                                         mask, self.bias)
