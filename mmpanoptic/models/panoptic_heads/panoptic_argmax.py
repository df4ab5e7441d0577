"""Heuristic-free inference of the Unifying model (Li, Qi, Torr): the
panoptic segmentation is the argmax of the panoptic logits ``P`` over their
D + N_st channels; optionally small stuff segments become VOID (appendix C).
Pure functions."""
from typing import Tuple

import torch
import torch.nn.functional as F
from mmdet.evaluation.functional import INSTANCE_OFFSET
from torch import Tensor


def upsample_argmax(logits: Tensor,
                    valid_size: Tuple[int, int],
                    out_size: Tuple[int, int],
                    stride: int,
                    chunk_channels: int = 16) -> Tensor:
    """Argmax over channels of logits upsampled bilinearly to full size,
    ``chunk_channels`` channels at a time so that only a few full-size maps
    exist at once (COCO: 150+ channels at 800 x 1333).

    Args:
        logits (Tensor): (K, h, w) logits at ``stride`` (K may be 0).
        valid_size (tuple[int, int]): image size (before padding) in input
            pixels; the x``stride`` map is cropped to it.
        out_size (tuple[int, int]): output size (e.g. the original image).
        stride (int): input pixels per logit pixel.
        chunk_channels (int): channels upsampled together.

    Returns:
        Tensor: (H_out, W_out) long channel index, -1 when K == 0.
    """
    num_channels, height, width = logits.shape
    best_index = logits.new_full(out_size, -1, dtype=torch.long)
    if num_channels == 0:
        return best_index
    best_value = logits.new_full(out_size, float('-inf'))
    for start in range(0, num_channels, chunk_channels):
        chunk = F.interpolate(
            logits[None, start:start + chunk_channels],
            size=(height * stride, width * stride),
            mode='bilinear',
            align_corners=False)[:, :, :valid_size[0], :valid_size[1]]
        if tuple(valid_size) != tuple(out_size):
            chunk = F.interpolate(
                chunk, size=out_size, mode='bilinear', align_corners=False)
        value, index = chunk[0].max(dim=0)
        better = value > best_value
        best_value = torch.where(better, value, best_value)
        best_index = torch.where(better, index + start, best_index)
    return best_index


def panoptic_from_channels(channel_map: Tensor,
                           det_labels: Tensor,
                           num_things: int,
                           num_stuff: int,
                           stuff_area_limit: int = 0) -> Tensor:
    """Turn a per-pixel channel index into mmdet's panoptic encoding.

    Channel k < D is detection k (label ``det_labels[k]``); channel D + j is
    stuff class N_th + j. Every detection present in the map becomes one
    thing segment ``label + id * INSTANCE_OFFSET`` with ids 1, 2, ... in
    channel order; stuff pixels get their label (id 0); stuff segments
    smaller than ``stuff_area_limit`` pixels and pixels of index -1 become
    VOID (= N_th + N_st).

    Args:
        channel_map (Tensor): (H, W) long, values in [-1, D + N_st).
        det_labels (Tensor): (D,) thing labels of the detections.
        num_things (int), num_stuff (int): N_th, N_st.
        stuff_area_limit (int): minimum stuff area; 0 keeps all.

    Returns:
        Tensor: (H, W) long panoptic map.
    """
    num_dets = det_labels.shape[0]
    num_channels = num_dets + num_stuff
    void = num_things + num_stuff
    if channel_map.numel() and channel_map.max() >= num_channels:
        raise ValueError(f'channel_map has index {int(channel_map.max())} '
                         f'but only {num_channels} channels')
    areas = torch.bincount(
        channel_map[channel_map >= 0].flatten(),
        minlength=num_channels)  # (D + N_st,)
    is_present = areas > 0
    instance_ids = torch.cumsum(is_present[:num_dets].long(), dim=0)
    thing_values = det_labels.long() + instance_ids * INSTANCE_OFFSET
    stuff_values = torch.arange(
        num_things, num_things + num_stuff, device=channel_map.device)
    stuff_values = torch.where(areas[num_dets:] < stuff_area_limit,
                               torch.full_like(stuff_values, void),
                               stuff_values)
    # lookup table indexed by channel + 1 (index 0 <- channel -1 = VOID)
    table = torch.cat([
        channel_map.new_tensor([void]),
        thing_values.to(channel_map.dtype),
        stuff_values.to(channel_map.dtype)
    ])
    return table[channel_map + 1]
