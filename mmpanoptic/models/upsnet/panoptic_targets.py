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


def panoptic_targets(sem_seg: Tensor, instance_masks: Tensor, keep: Tensor,
                     num_things_classes: int,
                     num_stuff_classes: int) -> Tensor:
    """Per-pixel target of the panoptic logits ``[stuff, kept instances,
    unknown]``.

    Args:
        sem_seg (Tensor): (H, W) semantic labels, things [0, T), stuff
            [T, T + S), 255 ignore.
        instance_masks (Tensor): (N, H, W) bool masks of the ground-truth
            instances (not crowd), in the order of the instance channels.
        keep (Tensor): (N,) bool, False = trained as unknown.
        num_things_classes (int): T.
        num_stuff_classes (int): S.

    Returns:
        Tensor: (H, W) long in ``[0, S)`` stuff, ``[S, S + K)`` the K kept
        instances in order, ``S + K`` unknown, 255 ignore (thing pixels of no
        instance, e.g. crowd regions).
    """
    if instance_masks.shape[0] != keep.shape[0]:
        raise ValueError(f'{instance_masks.shape[0]} instance masks but '
                         f'{keep.shape[0]} keep flags')
    sem_seg = sem_seg.long()
    is_stuff = (sem_seg >= num_things_classes) & (
        sem_seg < num_things_classes + num_stuff_classes)
    target = torch.where(is_stuff, sem_seg - num_things_classes,
                         sem_seg.new_full((), IGNORE_INDEX))
    num_keep = int(keep.sum())
    # channel of every instance: S + rank among kept, or unknown
    channel = torch.full_like(
        keep, num_stuff_classes + num_keep, dtype=torch.long)
    channel[keep] = num_stuff_classes + torch.arange(
        num_keep, device=keep.device)
    if instance_masks.shape[0] > 0:
        masks = instance_masks.bool()
        covered = masks.any(0)
        owner = masks.byte().max(dim=0).indices  # masks are disjoint
        target = torch.where(covered, channel.to(target.device)[owner], target)
    return target


def nearest_downsample_targets(target: Tensor, size: Tuple[int,
                                                           int]) -> Tensor:
    """Nearest downsampling of a (H, W) label map to ``size``."""
    return F.interpolate(
        target[None, None].float(), size=size, mode='nearest')[0, 0].long()
