"""Composing a panoptic map from things and stuff, shared by the methods'
post-processing (pure functions, one image, mmdet's encoding:
``label + instance_id * INSTANCE_OFFSET`` for things, ``label`` for stuff,
``num_things_classes + num_stuff_classes`` for VOID).

- :func:`lay_things_by_score`: the procedure of Kirillov et al. (Panoptic
  Segmentation, 2019; mmdet's ``HeuristicFusionHead``): masks are laid in
  the given (score) order, one mostly covered by masks already laid is
  skipped, otherwise it takes its free pixels.
- :func:`draw_things`: the laid masks as ``label + id * INSTANCE_OFFSET``.
- :func:`trim_small_stuff`: stuff classes whose area is below a limit
  become VOID.
"""
from typing import Optional, Tuple

import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET
from torch import Tensor


def lay_things_by_score(masks: Tensor,
                        overlap_thr: float = 0.5,
                        labels: Optional[Tensor] = None,
                        relations: Optional[Tensor] = None
                        ) -> Tuple[Tensor, Tensor]:
    """Lay binary masks one after another, in the given order.

    A mask of which more than ``overlap_thr`` of its area is already taken
    is skipped (so a skipped mask never hides a later one); otherwise it
    takes its free pixels. With category ``relations`` (AUNet, sec. 3.4),
    ``relations[a, b]`` True means an instance of class a is never covered
    by one of class b: a mask of class a also takes the pixels of laid
    class-b masks, and those pixels do not count as taken.

    The visit is sequential by definition; each step is one whole-mask
    operation (at most a few hundred instances).

    Args:
        masks (Tensor): (N, H, W) bool, in laying order (descending score).
        overlap_thr (float): Largest taken share of a laid mask.
        labels (Tensor, optional): (N,) thing classes; needed with
            ``relations``.
        relations (Tensor, optional): (T, T) bool.

    Returns:
        tuple[Tensor, Tensor]: ``owner`` (H, W) long, the index of the mask
        that owns each pixel (-1 = none), and ``laid`` (N,) bool.
    """
    num, height, width = masks.shape
    owner = torch.full((height, width), -1, dtype=torch.long,
                       device=masks.device)
    laid = torch.zeros(num, dtype=torch.bool, device=masks.device)
    if relations is not None and labels is None:
        raise ValueError('category relations need the masks\' labels')
    occupied = torch.zeros((height, width), dtype=torch.bool,
                           device=masks.device)
    owner_labels = None
    for index in range(num):
        mask = masks[index].bool()
        # counts on uint8 views (bool reductions are several times slower)
        area = int(mask.view(torch.uint8).sum(dtype=torch.int32))
        if area == 0:
            continue
        taken = mask & occupied
        if relations is not None and bool(relations[labels[index]].any()):
            if owner_labels is None:
                owner_labels = torch.full_like(owner, -1)
            covering_class = owner_labels.clamp(min=0)
            in_front = relations[labels[index]][covering_class] & occupied
            taken = taken & ~in_front
        overlap = int(taken.view(torch.uint8).sum(dtype=torch.int32))
        if overlap > overlap_thr * area:
            continue
        drawn = mask & ~taken
        owner[drawn] = index
        occupied |= drawn
        if relations is not None:
            if owner_labels is None:
                owner_labels = torch.full_like(owner, -1)
            owner_labels[drawn] = labels[index]
        laid[index] = True
    return owner, laid


def draw_things(panoptic: Tensor, owner: Tensor, labels: Tensor) -> Tensor:
    """Write the things of :func:`lay_things_by_score` into a panoptic map:
    ``label + id * INSTANCE_OFFSET`` with ids 1, 2, ... in laying order over
    the masks that own pixels.

    Args:
        panoptic (Tensor): (H, W) long map (stuff and VOID).
        owner (Tensor): (H, W) long mask index, -1 = none.
        labels (Tensor): (N,) thing classes of the masks.

    Returns:
        Tensor: (H, W) long.
    """
    num = labels.shape[0]
    if num == 0:
        return panoptic
    has_owner = owner >= 0
    area = torch.bincount(owner[has_owner], minlength=num)
    instance_id = torch.cumsum((area > 0).long(), 0)
    values = labels.long() + instance_id * INSTANCE_OFFSET
    return torch.where(has_owner, values[owner.clamp(min=0)], panoptic)


def trim_small_stuff(panoptic: Tensor, num_things_classes: int,
                     num_stuff_classes: int, area_limit: int) -> Tensor:
    """Stuff classes (labels ``[T, T + S)``) covering fewer than
    ``area_limit`` pixels become VOID (``T + S``); other pixels are kept.

    Args:
        panoptic (Tensor): (H, W) long panoptic map.
        num_things_classes (int): T.
        num_stuff_classes (int): S.
        area_limit (int): Smallest kept stuff area; 0 keeps all.

    Returns:
        Tensor: (H, W) long.
    """
    void = num_things_classes + num_stuff_classes
    if num_stuff_classes == 0:
        return panoptic
    is_stuff = (panoptic >= num_things_classes) & (panoptic < void)
    stuff_area = torch.bincount(
        panoptic[is_stuff] - num_things_classes,
        minlength=num_stuff_classes)
    small = stuff_area < area_limit
    stuff_index = (panoptic - num_things_classes).clamp(
        0, num_stuff_classes - 1)
    trimmed = is_stuff & small[stuff_index]
    return torch.where(trimmed, panoptic.new_full((), void), panoptic)
