"""Inference post-processing of Panoptic FCN (paper Sec. 3.4, App. A.2).

Pure functions, one image at a time, no loops over pixels:

- :func:`thing_candidates`: peaks of a level's things heatmap by 3x3
  max-pooling, top-k, score threshold, and their kernels.
- :func:`stuff_candidates`: a level's stuff regions (argmax), their mean
  score and their pooled kernel.
- :func:`maskness_rescore`: score x mean mask probability inside the mask.
- :func:`combine_things_and_stuff`: the non-overlapping panoptic result
  (Panoptic FPN's procedure) in mmdet's encoding.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..building_blocks.panoptic_composition import (draw_things,
                                                    lay_things_by_score,
                                                    trim_small_stuff)
from .kernel_fusion import pool_stuff_kernels


def thing_candidates(
        center_logits: Tensor,
        kernel_map: Tensor,
        top_k: int = 50,
        score_thr: float = 0.05,
        smooth_kernel_size: int = 3) -> Tuple[Tensor, Tensor, Tensor]:
    """Object centres of one level and their kernel weights.

    The heatmap is averaged with its ``smooth_kernel_size`` box-filtered
    copy (official code: 3 for P3..P5, 5 for P6/P7; 1 disables it), peaks
    are points equal to their 3x3 max-pool (Sec. 3.4, as CenterNet), then
    the ``min(top_k, H * W)`` best points over all classes (the official
    count) with score > ``score_thr`` are kept.

    Args:
        center_logits (Tensor): (T, H, W) things heatmap logits L^th.
        kernel_map (Tensor): (C, H, W) kernel weight map G.
        top_k (int): peaks kept per level. Defaults to 50 (official: half of
            the 100 kept things).
        score_thr (float): Defaults to 0.05.
        smooth_kernel_size (int): box filter size, 1 to disable.

    Returns:
        tuple[Tensor, Tensor, Tensor]: kernels (N, C), labels (N,) long,
        scores (N,).
    """
    num_classes, height, width = center_logits.shape
    scores = center_logits.sigmoid()
    if smooth_kernel_size > 1:
        smoothed = F.avg_pool2d(
            scores[None],
            smooth_kernel_size,
            stride=1,
            padding=(smooth_kernel_size - 1) // 2)[0]
        scores = (scores + smoothed) / 2
    peaks = F.max_pool2d(scores[None], 3, stride=1, padding=1)[0] == scores
    scores = (scores * peaks).view(-1)
    top_scores, top_index = scores.topk(min(top_k, height * width))
    keep = top_scores > score_thr
    top_scores, top_index = top_scores[keep], top_index[keep]
    labels = torch.div(top_index, height * width, rounding_mode='floor')
    positions = top_index % (height * width)
    kernels = kernel_map.flatten(1)[:, positions].t()
    return kernels, labels, top_scores


def stuff_candidates(
        stuff_logits: Tensor,
        kernel_map: Tensor,
        score_thr: float = 0.05,
        kernel_average: str = 'image') -> Tuple[Tensor, Tensor, Tensor]:
    """Stuff regions of one level and their kernel weights.

    Each pixel takes the argmax channel of the stuff map; every channel that
    wins somewhere is a region with score = its mean probability over the
    region (kept if > ``score_thr``) and kernel = the kernel weights pooled
    over the region (:func:`pool_stuff_kernels`).

    Args:
        stuff_logits (Tensor): (S', H, W) stuff map logits L^st.
        kernel_map (Tensor): (C, H, W).
        score_thr (float): Defaults to 0.05.
        kernel_average (str): 'image' (the official code, default) or
            'region', see :data:`STUFF_KERNEL_AVERAGES`.

    Returns:
        tuple[Tensor, Tensor, Tensor]: kernels (N, C), channel labels (N,),
        scores (N,).
    """
    num_channels = stuff_logits.shape[0]
    probs = stuff_logits.sigmoid().flatten(1)  # (S', HW)
    winner = probs.argmax(dim=0)
    regions = F.one_hot(winner, num_channels).t().to(probs.dtype)  # (S', HW)
    area = regions.sum(dim=1)
    present = area > 0
    regions, area = regions[present], area[present]
    labels = present.nonzero(as_tuple=False).view(-1)
    scores = (probs[present] * regions).sum(dim=1) / area
    kernels = pool_stuff_kernels(regions, kernel_map, kernel_average)
    keep = scores > score_thr
    return kernels[keep], labels[keep], scores[keep]


def maskness_rescore(mask_probs: Tensor,
                     scores: Tensor,
                     mask_thr: float = 0.4) -> Tuple[Tensor, Tensor]:
    """Rescore things by their maskness (App. A.2, as SOLO).

    Args:
        mask_probs (Tensor): (M, H, W) mask probabilities.
        scores (Tensor): (M,) centre scores.
        mask_thr (float): binarisation threshold. Defaults to 0.4.

    Returns:
        tuple[Tensor, Tensor]: (M,) new scores = score x mean probability
        inside the binary mask, and (M, H, W) bool masks.
    """
    masks = mask_probs > mask_thr
    area = masks.flatten(1).sum(dim=1).to(mask_probs.dtype)
    # sum of the probabilities above the threshold, in one fused op
    inside = F.threshold(mask_probs, mask_thr, 0.0).flatten(1).sum(dim=1)
    return scores * inside / (area + 1e-6), masks


def combine_things_and_stuff(thing_masks: Tensor,
                             thing_labels: Tensor,
                             thing_scores: Tensor,
                             stuff_labels: Tensor,
                             num_things_classes: int,
                             num_stuff_classes: int,
                             overlap_thr: float = 0.5,
                             stuff_area_limit: int = 4096,
                             thing_score_thr: float = 0.2) -> Tensor:
    """Non-overlapping panoptic result (Panoptic FPN's procedure).

    Things are pasted in descending score (score >= ``thing_score_thr``);
    one whose mask is more than ``overlap_thr`` covered by already pasted
    things is dropped, otherwise it takes its free pixels. Free pixels then
    take their stuff label; stuff segments smaller than
    ``stuff_area_limit`` pixels, pixels labelled "things" by the stuff map
    (label -1) and nothing-at-all are VOID.

    Args:
        thing_masks (Tensor): (M, H, W) bool.
        thing_labels (Tensor): (M,) long in [0, T).
        thing_scores (Tensor): (M,).
        stuff_labels (Tensor): (H, W) long stuff labels in [T, T + S) or -1
            for "no stuff".
        num_things_classes (int): T. num_stuff_classes (int): S.
        overlap_thr (float): Defaults to 0.5.
        stuff_area_limit (int): Defaults to 4096 (COCO).
        thing_score_thr (float): Defaults to 0.2.

    Returns:
        Tensor: (H, W) long, ``label + instance_id * INSTANCE_OFFSET`` for
        things (ids from 1), ``label`` for stuff, ``T + S`` for VOID.
    """
    void = num_things_classes + num_stuff_classes
    order = thing_scores.argsort(descending=True)
    order = order[thing_scores[order] >= thing_score_thr]
    owner, _ = lay_things_by_score(thing_masks[order].bool(), overlap_thr)
    panoptic = torch.where(stuff_labels >= num_things_classes,
                           stuff_labels.long(), stuff_labels.new_full((),
                                                                      void))
    panoptic = draw_things(panoptic, owner, thing_labels[order])
    return trim_small_stuff(panoptic, num_things_classes, num_stuff_classes,
                            stuff_area_limit)
