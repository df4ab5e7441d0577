"""Training targets of UPSNet's semantic RoI loss and panoptic head."""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE_INDEX = 255


def sample_unknown_instances(num_instances: int,
                             unknown_fraction: float = 0.3,
                             generator: torch.Generator = None) -> Tensor:
    """Pick the ground-truth instances kept as instance channels; the others
    are trained as the unknown class (paper 3.1: a random 30 %).

    Returns:
        Tensor: (N,) bool, True = kept; at least one is kept when N > 0.
    """
    keep = torch.zeros(num_instances, dtype=torch.bool)
    if num_instances == 0:
        return keep
    num_keep = max(1, int(num_instances * (1 - unknown_fraction)))
    order = torch.randperm(num_instances, generator=generator)
    keep[order[:num_keep]] = True
    return keep


def panoptic_targets(sem_seg: Tensor,
                     instance_masks: Tensor,
                     keep: Tensor,
                     num_things_classes: int,
                     num_stuff_classes: int,
                     with_unknown: bool = True) -> Tensor:
    """Per-pixel target of the panoptic logits ``[stuff, kept instances,
    unknown]``.

    Stuff pixels keep their class, the pixels of each kept instance's mask
    its channel (whatever the semantic label under it), and every other
    thing pixel (instances left out, crowd or group regions, which the
    semantic labels mark as a thing class without an instance mask) is
    unknown: the official ``MaskMatching``. Without the unknown class they
    are ignored.

    Args:
        sem_seg (Tensor): (H, W) semantic labels, things [0, T), stuff
            [T, T + S), 255 ignore.
        instance_masks (Tensor): (N, H, W) bool masks of the ground-truth
            instances (not crowd), in the order of the instance channels.
        keep (Tensor): (N,) bool, False = left out (trained as unknown).
        num_things_classes (int): T.
        num_stuff_classes (int): S.
        with_unknown (bool): Whether the logits have the unknown channel.

    Returns:
        Tensor: (H, W) long in ``[0, S)`` stuff, ``[S, S + K)`` the K kept
        instances in order, ``S + K`` unknown, 255 ignore (semantic ignore,
        and without the unknown class the thing pixels of no kept instance).
    """
    if instance_masks.shape[0] != keep.shape[0]:
        raise ValueError(f'{instance_masks.shape[0]} instance masks but '
                         f'{keep.shape[0]} keep flags')
    sem_seg = sem_seg.long()
    num_keep = int(keep.sum())
    is_thing = (sem_seg >= 0) & (sem_seg < num_things_classes)
    is_stuff = (sem_seg >= num_things_classes) & (
        sem_seg < num_things_classes + num_stuff_classes)
    unclaimed = num_stuff_classes + num_keep if with_unknown else \
        IGNORE_INDEX
    target = torch.where(
        is_stuff, sem_seg - num_things_classes,
        torch.where(is_thing, sem_seg.new_full((), unclaimed),
                    sem_seg.new_full((), IGNORE_INDEX)))
    if num_keep > 0:
        masks = instance_masks[keep.to(instance_masks.device)].bool()
        covered = masks.any(0)
        owner = masks.byte().max(dim=0).indices  # masks are disjoint
        target = torch.where(covered, num_stuff_classes + owner.to(
            target.device), target)
    return target


def nearest_downsample_targets(target: Tensor, size: Tuple[int,
                                                           int]) -> Tensor:
    """Nearest downsampling of a (H, W) label map to ``size``."""
    return F.interpolate(
        target[None, None].float(), size=size, mode='nearest')[0, 0].long()
