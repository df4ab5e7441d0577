"""Heuristic-free inference of the Unifying model (Li, Qi, Torr): the
panoptic segmentation is the argmax of the panoptic logits ``P`` over their
D + N_st channels; optionally small stuff segments become VOID (appendix C).
Pure functions."""
from typing import Iterable, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.evaluation.functional import INSTANCE_OFFSET
from torch import Tensor

from .dynamic_potential import dynamic_potential


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
    chunks = ((start,
               _upsample_valid(logits[start:start + chunk_channels],
                               valid_size, stride))
              for start in range(0, logits.shape[0], chunk_channels))
    return _argmax_over_chunks(chunks, valid_size, out_size, logits)


def _upsample_valid(maps: Tensor, valid_size: Tuple[int, int],
                    stride: int) -> Tensor:
    """(C, h, w) -> (C, H_valid, W_valid): bilinear x ``stride``, cropped to
    the image inside the padding."""
    height, width = maps.shape[-2:]
    return F.interpolate(
        maps[None], size=(height * stride, width * stride), mode='bilinear',
        align_corners=False)[0, :, :int(valid_size[0]), :int(valid_size[1])]


def _argmax_over_chunks(chunks: Iterable[Tuple[int, Tensor]],
                        valid_size: Tuple[int, int],
                        out_size: Tuple[int, int], like: Tensor) -> Tensor:
    """Channel argmax of ``(first channel, (c, H_valid, W_valid) values)``
    chunks, each resized to ``out_size``; -1 where there is no chunk."""
    best_index = like.new_full(out_size, -1, dtype=torch.long)
    best_value = like.new_full(out_size, float('-inf'))
    resize = tuple(int(v) for v in valid_size) != tuple(out_size)
    for start, values in chunks:
        if resize:
            values = F.interpolate(
                values[None], size=tuple(out_size), mode='bilinear',
                align_corners=False)[0]
        value, index = values.max(dim=0)
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


def full_resolution_argmax(panoptic_logits: Tensor,
                           potential: Tensor,
                           semantic_probs: Tensor,
                           boxes: Tensor,
                           scores: Tensor,
                           labels: Tensor,
                           mask_probs: Optional[Tensor],
                           variant: str,
                           valid_size: Tuple[int, int],
                           out_size: Tuple[int, int],
                           stride: int,
                           chunk_channels: int = 16) -> Tensor:
    """Argmax over the channels of ``P`` with the things' potential
    evaluated at input resolution.

    ``P = Psi + phi0(Q) (phi1(Q)^T Psi)`` (eq. (4)) is computed at 1/4. Its
    affinity term ``P - Psi`` is smooth and is upsampled bilinearly, as the
    semantic probabilities ``V`` are; the detections' channels of ``Psi``
    are recomputed at input resolution from the upsampled ``V``, the masks
    pasted at input resolution ("image-resolution instance masks", Sec.
    3.4.1) and the box regions at input resolution (eq. (1)-(2)). Stuff
    channels (whole-image boxes) are unchanged: their full-resolution
    potential is the upsampled ``V``, so the result there is
    :func:`upsample_argmax` of ``P``. Thing boundaries follow the 28x28
    masks and the boxes instead of a 4x4-pixel grid.

    Args:
        panoptic_logits (Tensor): (D + N_st, h, w) ``P`` at ``stride``.
        potential (Tensor): (D + N_st, h, w) ``Psi`` it was made from.
        semantic_probs (Tensor): (N_th + N_st, h, w) ``V``.
        boxes (Tensor): (D, 4) in input pixels. scores, labels (Tensor): (D,).
        mask_probs (Tensor, optional): (D, m, m) mask probabilities.
        variant (str): the potential's variant ('A', 'B' or 'C').
        valid_size (tuple[int, int]): image size inside the padded input.
        out_size (tuple[int, int]): output size.
        stride (int): input pixels per pixel of the maps.
        chunk_channels (int): channels evaluated together.

    Returns:
        Tensor: (H_out, W_out) long channel index, -1 when there is none.
    """
    num_channels = panoptic_logits.shape[0]
    num_dets = boxes.shape[0]
    if potential.shape != panoptic_logits.shape:
        raise ValueError(f'potential {tuple(potential.shape)} and panoptic '
                         f'logits {tuple(panoptic_logits.shape)} differ')

    def chunks():
        for start in range(0, num_channels, chunk_channels):
            end = min(start + chunk_channels, num_channels)
            values = _upsample_valid(panoptic_logits[start:end], valid_size,
                                     stride)
            count = min(end, num_dets) - start
            if count > 0:  # detection channels in this chunk
                things = slice(start, start + count)
                affinity_term = values[:count] - _upsample_valid(
                    potential[things], valid_size, stride)
                values[:count] = affinity_term + dynamic_potential(
                    _upsample_valid(semantic_probs[labels[things]],
                                    valid_size, stride),
                    boxes[things],
                    scores[things],
                    torch.arange(count, device=labels.device),
                    num_things=count,
                    stride=1,
                    mask_probs=None
                    if mask_probs is None else mask_probs[things],
                    variant=variant)
            yield start, values

    return _argmax_over_chunks(chunks(), valid_size, out_size,
                               panoptic_logits)
