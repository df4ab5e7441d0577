"""Box regions and mask pasting on a map of a given stride, shared by the
panoptic heads of UPSNet (``Y_mask``, 0 outside the box) and the Unifying
model (the potential's ``M``).

A map pixel ``(y, x)`` covers input pixels ``[x * stride, (x + 1) *
stride)``; it is inside a box when its centre is. Masks are resampled like
mmdet's ``_do_paste_mask`` (bilinear, ``align_corners=False``, zero padding)
and are exactly 0 outside their box.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def box_region_masks(boxes: Tensor,
                     height: int,
                     width: int,
                     stride: float = 1.0) -> Tensor:
    """(N, H, W) bool: the map pixel's centre lies inside box i.

    Args:
        boxes (Tensor): (N, 4) ``x1, y1, x2, y2`` in input pixels.
        height (int), width (int): Size of the map.
        stride (float): Input pixels per map pixel.
    """
    centres_x = (torch.arange(width, device=boxes.device) + 0.5) * stride
    centres_y = (torch.arange(height, device=boxes.device) + 0.5) * stride
    inside_x = (centres_x >= boxes[:, 0:1]) & (centres_x <= boxes[:, 2:3])
    inside_y = (centres_y >= boxes[:, 1:2]) & (centres_y <= boxes[:, 3:4])
    return inside_y[:, :, None] & inside_x[:, None, :]


def box_pixel_ranges(boxes: Tensor, height: int,
                     width: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """:func:`box_region_masks` at stride 1 as inclusive integer ranges
    ``x0, y0, x1, y1`` (each (N,) long), clipped to the image; an empty box
    has ``x1 < x0`` or ``y1 < y0``."""
    x0 = torch.ceil(boxes[:, 0] - 0.5).long().clamp(min=0)
    y0 = torch.ceil(boxes[:, 1] - 0.5).long().clamp(min=0)
    x1 = torch.floor(boxes[:, 2] - 0.5).long().clamp(max=width - 1)
    y1 = torch.floor(boxes[:, 3] - 0.5).long().clamp(max=height - 1)
    return x0, y0, x1, y1


def paste_masks(masks: Tensor,
                boxes: Tensor,
                height: int,
                width: int,
                stride: float = 1.0) -> Tensor:
    """Resize every instance's mask (logits or probabilities) to its box and
    paste it into an (H, W) map of the given stride, all at once;
    differentiable with respect to ``masks``.

    Args:
        masks (Tensor): (N, M, M) masks, e.g. 28 x 28.
        boxes (Tensor): (N, 4) ``x1, y1, x2, y2`` in input pixels.
        height (int), width (int): Size of the map.
        stride (float): Input pixels per map pixel.

    Returns:
        Tensor: (N, H, W) float, bilinear inside the box, exactly 0 outside.
    """
    num = boxes.shape[0]
    if num == 0:
        return masks.new_zeros((0, height, width))
    x1, y1, x2, y2 = (boxes.detach().float() / stride).split(1, dim=1)
    xs = torch.arange(width, device=boxes.device, dtype=torch.float32) + 0.5
    ys = torch.arange(height, device=boxes.device, dtype=torch.float32) + 0.5
    grid_x = (xs[None] - x1) / (x2 - x1).clamp(min=1e-6) * 2 - 1  # (N, W)
    grid_y = (ys[None] - y1) / (y2 - y1).clamp(min=1e-6) * 2 - 1  # (N, H)
    grid = torch.stack([
        grid_x[:, None, :].expand(num, height, width),
        grid_y[:, :, None].expand(num, height, width)
    ], dim=3)
    pasted = F.grid_sample(
        masks[:, None].float(), grid, align_corners=False)[:, 0]
    return pasted * box_region_masks(boxes, height, width, stride)
