"""The Unifying model's panoptic logits ``P`` at input resolution (Li, Qi,
Torr, Sec. 3.4.1: "image-resolution instance masks"), for the argmax at
inference and, optionally, the matching loss in training. Pure functions."""
from typing import Optional, Tuple

import torch
from torch import Tensor

from mmpanoptic.ops.resample import argmax_over_chunks, upsample_valid

from .dynamic_potential import dynamic_potential

__all__ = [
    'upsampled_log_partition', 'full_resolution_logits',
    'full_resolution_argmax'
]


def upsampled_log_partition(semantic_logits: Tensor,
                            valid_size: Tuple[int, int],
                            stride: int,
                            chunk_channels: int = 16) -> Tensor:
    """``log sum_c exp(up(l_c))`` of semantic logits upsampled to input
    resolution (:func:`upsample_valid`), accumulated ``chunk_channels``
    channels at a time: (H_valid, W_valid), no full-size map of all classes.
    """
    log_norm = None
    for start in range(0, semantic_logits.shape[0], chunk_channels):
        chunk = torch.logsumexp(
            upsample_valid(semantic_logits[start:start + chunk_channels],
                           valid_size, stride),
            dim=0)
        log_norm = chunk if log_norm is None else torch.logaddexp(
            log_norm, chunk)
    return log_norm


def _check_full_resolution_inputs(panoptic_logits: Tensor, potential: Tensor,
                                  semantic_logits: Tensor,
                                  num_dets: int) -> int:
    """Shapes of :func:`full_resolution_logits`' inputs; returns N_th."""
    if potential.shape != panoptic_logits.shape:
        raise ValueError(f'potential {tuple(potential.shape)} and panoptic '
                         f'logits {tuple(panoptic_logits.shape)} differ')
    num_stuff_classes = panoptic_logits.shape[0] - num_dets
    num_things_classes = semantic_logits.shape[0] - num_stuff_classes
    if num_stuff_classes < 0 or num_things_classes < 0 or \
            semantic_logits.shape[1:] != panoptic_logits.shape[1:]:
        raise ValueError(
            f'semantic logits {tuple(semantic_logits.shape)} do not fit '
            f'panoptic logits {tuple(panoptic_logits.shape)} with '
            f'{num_dets} detections (N_th + N_st classes, same size)')
    return num_things_classes


def full_resolution_logits(panoptic_logits: Tensor,
                           potential: Tensor,
                           semantic_logits: Tensor,
                           boxes: Tensor,
                           scores: Tensor,
                           labels: Tensor,
                           mask_probs: Optional[Tensor],
                           variant: str,
                           valid_size: Tuple[int, int],
                           stride: int,
                           channels: Optional[Tuple[int, int]] = None,
                           log_norm: Optional[Tensor] = None) -> Tensor:
    """``P`` at input resolution, differentiable.

    ``P = Psi + phi0(Q) (phi1(Q)^T Psi)`` (eq. (4)) is computed at 1/4. Its
    affinity term ``P - Psi`` is smooth and is upsampled bilinearly; the
    potential ``Psi`` is recomputed at input resolution (eq. (1)-(2)) from
    ``V`` at input resolution, with the masks pasted at input resolution
    ("image-resolution instance masks", Sec. 3.4.1) and the box regions at
    input resolution. ``V`` there is the softmax of the bilinearly
    upsampled semantic logits: the probabilities the semantic loss trains
    (it is computed on upsampled logits) and the ones whose argmax is
    ``pred_sem_seg``. Upsampling the 1/4 probabilities instead spreads each
    class boundary over a stride-wide band, and variant C (``s (V + M)``)
    then widens things into it. Thing boundaries follow the 28x28 masks,
    the boxes and the semantic boundary instead of a 4x4-pixel grid.

    The same function gives the panoptic matching loss its input when the
    loss is computed at input resolution (``train_cfg.panoptic.
    full_resolution``), so that training and inference see the same ``P``.

    Args:
        panoptic_logits (Tensor): (D + N_st, h, w) ``P`` at ``stride``.
        potential (Tensor): (D + N_st, h, w) ``Psi`` it was made from.
        semantic_logits (Tensor): (N_th + N_st, h, w) semantic logits (the
            softmax of which is ``V``).
        boxes (Tensor): (D, 4) in input pixels. scores, labels (Tensor): (D,).
        mask_probs (Tensor, optional): (D, m, m) mask probabilities.
        variant (str): the potential's variant (:func:`dynamic_potential`).
        valid_size (tuple[int, int]): image size inside the padded input.
        stride (int): input pixels per pixel of the maps.
        channels (tuple[int, int], optional): the channel range
            ``[start, end)`` to evaluate; all by default.
        log_norm (Tensor, optional): :func:`upsampled_log_partition` of
            ``semantic_logits``, when the caller evaluates several ranges.

    Returns:
        Tensor: (end - start, H_valid, W_valid) values of ``P``.
    """
    num_channels = panoptic_logits.shape[0]
    num_dets = boxes.shape[0]
    num_things_classes = _check_full_resolution_inputs(panoptic_logits,
                                                       potential,
                                                       semantic_logits,
                                                       num_dets)
    start, end = (0, num_channels) if channels is None else channels
    if not 0 <= start <= end <= num_channels:
        raise ValueError(f'channel range [{start}, {end}) is not within the '
                         f'{num_channels} channels of P')
    if start == end:  # F.interpolate refuses empty inputs
        return panoptic_logits.new_zeros(
            (0, int(valid_size[0]), int(valid_size[1])))
    if log_norm is None:
        log_norm = upsampled_log_partition(semantic_logits, valid_size, stride)

    def full_resolution_probs(classes: Tensor) -> Tensor:
        return (upsample_valid(semantic_logits[classes], valid_size, stride) -
                log_norm).exp()  # V of the given classes

    # the affinity term P - Psi (bilinear upsampling is linear)
    values = upsample_valid(panoptic_logits[start:end] - potential[start:end],
                            valid_size, stride)
    count = max(min(end, num_dets) - start, 0)
    parts = []
    if count > 0:  # detection channels in the range
        things = slice(start, start + count)
        parts.append(
            dynamic_potential(
                full_resolution_probs(labels[things]),
                boxes[things],
                scores[things],
                torch.arange(count, device=labels.device),
                num_things_classes=count,
                stride=1,
                mask_probs=None if mask_probs is None else mask_probs[things],
                variant=variant))
    if end - start > count:  # stuff channels: whole-image boxes
        stuff_classes = torch.arange(
            start + count, end,
            device=labels.device) - num_dets + num_things_classes
        parts.append(full_resolution_probs(stuff_classes))
    return values + torch.cat(parts) if parts else values


def full_resolution_argmax(panoptic_logits: Tensor,
                           potential: Tensor,
                           semantic_logits: Tensor,
                           boxes: Tensor,
                           scores: Tensor,
                           labels: Tensor,
                           mask_probs: Optional[Tensor],
                           variant: str,
                           valid_size: Tuple[int, int],
                           out_size: Tuple[int, int],
                           stride: int,
                           chunk_channels: int = 16) -> Tensor:
    """Argmax over the channels of ``P`` with the potential evaluated at
    input resolution (:func:`full_resolution_logits`), ``chunk_channels``
    channels at a time: no full-size map of all channels.

    Args:
        panoptic_logits, potential, semantic_logits, boxes, scores, labels,
            mask_probs, variant, valid_size, stride: as
            :func:`full_resolution_logits`.
        out_size (tuple[int, int]): output size.
        chunk_channels (int): channels evaluated together.

    Returns:
        Tensor: (H_out, W_out) long channel index, -1 when there is none.
    """
    num_channels = panoptic_logits.shape[0]
    _check_full_resolution_inputs(panoptic_logits, potential, semantic_logits,
                                  boxes.shape[0])
    log_norm = upsampled_log_partition(semantic_logits, valid_size, stride,
                                       chunk_channels)

    def chunks():
        for start in range(0, num_channels, chunk_channels):
            end = min(start + chunk_channels, num_channels)
            yield start, full_resolution_logits(panoptic_logits, potential,
                                                semantic_logits, boxes, scores,
                                                labels, mask_probs, variant,
                                                valid_size, stride,
                                                (start, end), log_norm)

    return argmax_over_chunks(chunks(), valid_size, out_size, panoptic_logits)
