"""Dynamic potential of the Unifying model (Li, Qi, Torr), as pure functions.

One channel per detection (``D``) and one per stuff class (``N_st``, a
whole-image "stuff box" with score 1), filled inside the box with the
semantic probability of the box class, the detection score and optionally
the pasted instance mask (eq. (1)-(2), Fig. 4), 0 outside:

- variant ``'A'`` (UPSNet-style): ``V_i(c_k) [+ M_i(k)]``, no score;
- variant ``'B'``: ``s_k V_i(c_k) [* M_i(k)]`` (the paper's Cityscapes choice);
- variant ``'C'``: ``s_k V_i(c_k) [+ M_i(k)]`` (the paper's COCO choice).

Without masks B and C are both eq. (1).
"""
from typing import Optional

import torch
from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask
from torch import Tensor

POTENTIAL_VARIANTS = ('A', 'B', 'C')


def box_region_masks(boxes: Tensor, height: int, width: int,
                     stride: float) -> Tensor:
    """Which pixels of an (H, W) map of the given stride lie in each box.

    A pixel ``(y, x)`` covers input pixels ``[x * stride, (x + 1) * stride)``;
    it is inside a box when its centre is.

    Args:
        boxes (Tensor): (D, 4) boxes (x1, y1, x2, y2) in input pixels.
        height (int), width (int): size of the map.
        stride (float): input pixels per map pixel.

    Returns:
        Tensor: (D, H, W) bool.
    """
    centres_x = (torch.arange(width, device=boxes.device) + 0.5) * stride
    centres_y = (torch.arange(height, device=boxes.device) + 0.5) * stride
    inside_x = (centres_x >= boxes[:, 0:1]) & (centres_x <= boxes[:, 2:3])
    inside_y = (centres_y >= boxes[:, 1:2]) & (centres_y <= boxes[:, 3:4])
    return inside_y[:, :, None] & inside_x[:, None, :]


def paste_mask_probs(mask_probs: Tensor, boxes: Tensor, height: int,
                     width: int, stride: float) -> Tensor:
    """Resize per-box mask probabilities to their boxes and paste them into
    an (H, W) map of the given stride, 0 outside the box; differentiable
    with respect to ``mask_probs``.

    Args:
        mask_probs (Tensor): (D, h, w) mask probabilities (e.g. 28 x 28).
        boxes (Tensor): (D, 4) boxes in input pixels.
        height (int), width (int), stride (float): the target map.

    Returns:
        Tensor: (D, H, W) pasted masks ``M``.
    """
    if mask_probs.shape[0] == 0:
        return mask_probs.new_zeros((0, height, width))
    pasted, _ = _do_paste_mask(
        mask_probs[:, None], boxes.detach() / stride, height, width,
        skip_empty=False)
    return pasted


def dynamic_potential(semantic_probs: Tensor,
                      boxes: Tensor,
                      scores: Tensor,
                      labels: Tensor,
                      num_things: int,
                      stride: float,
                      mask_probs: Optional[Tensor] = None,
                      variant: str = 'B',
                      chunk_size: int = 16) -> Tensor:
    """The dynamic potential ``Psi`` (eq. (1)-(2)).

    Detections are processed ``chunk_size`` at a time, so that besides the
    output only a few (H, W) maps exist at once (memory linear in H * W and
    independent of D beyond the output itself).

    Args:
        semantic_probs (Tensor): (N_th + N_st, H, W) semantic probabilities
            ``V`` (things first, mmdet order) at ``stride``.
        boxes (Tensor): (D, 4) detections (x1, y1, x2, y2) in input pixels.
        scores (Tensor): (D,) detection scores ``s``.
        labels (Tensor): (D,) thing classes ``c`` in [0, N_th).
        num_things (int): N_th.
        stride (float): input pixels per pixel of ``semantic_probs``.
        mask_probs (Tensor, optional): (D, h, w) RoI mask probabilities of
            each detection's class (e.g. 28 x 28); pasted into the boxes
            (``M``, 0 outside) by :func:`paste_mask_probs`.
        variant (str): 'A', 'B' or 'C'.
        chunk_size (int): detections processed together.

    Returns:
        Tensor: (D + N_st, H, W) potential; channel k < D is detection k,
        channel D + j is stuff class N_th + j (a whole-image box, score 1).
    """
    if variant not in POTENTIAL_VARIANTS:
        raise ValueError(f'variant must be one of {POTENTIAL_VARIANTS}, '
                         f'got {variant!r}')
    num_classes, height, width = semantic_probs.shape
    if not 0 < num_things <= num_classes:
        raise ValueError(f'num_things={num_things} must be in (0, '
                         f'{num_classes}] (channels of semantic_probs)')
    num_dets = boxes.shape[0]
    if scores.shape != (num_dets, ) or labels.shape != (num_dets, ):
        raise ValueError(
            f'boxes {tuple(boxes.shape)}, scores {tuple(scores.shape)} and '
            f'labels {tuple(labels.shape)} must describe the same detections')
    if num_dets and (labels.min() < 0 or labels.max() >= num_things):
        raise ValueError('detection labels must be thing classes in '
                         f'[0, {num_things}), got {labels.tolist()}')
    if mask_probs is not None and (mask_probs.dim() != 3
                                   or mask_probs.shape[0] != num_dets):
        raise ValueError(f'mask_probs {tuple(mask_probs.shape)} must be '
                         f'(D, h, w) with D = {num_dets}')

    num_stuff = num_classes - num_things
    potential = semantic_probs.new_empty(
        (num_dets + num_stuff, height, width))
    for start in range(0, num_dets, chunk_size):
        chunk = slice(start, min(start + chunk_size, num_dets))
        inside = box_region_masks(boxes[chunk], height, width, stride)
        thing_potential = semantic_probs[labels[chunk]]  # V_i(c_k)
        if variant != 'A':
            thing_potential = scores[chunk, None, None] * \
                thing_potential  # eq. (1)
        if mask_probs is not None:
            masks = paste_mask_probs(mask_probs[chunk], boxes[chunk], height,
                                     width, stride)
            if variant == 'B':
                thing_potential = thing_potential * masks  # eq. (2), product
            else:
                thing_potential = thing_potential + masks  # eq. (2), sum
        potential[chunk] = thing_potential * inside
    potential[num_dets:] = semantic_probs[num_things:]  # whole-image boxes
    return potential
