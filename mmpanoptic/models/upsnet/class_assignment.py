"""UPSNet's instance class assignment (paper section 3.1) and the final
panoptic map in mmdet's encoding."""
import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET
from torch import Tensor

from ..building_blocks.panoptic_composition import trim_small_stuff


def assign_instance_classes(channel_map: Tensor,
                            semantic_labels: Tensor,
                            instance_labels: Tensor,
                            num_things_classes: int,
                            num_stuff_classes: int,
                            stuff_majority: float = 0.5) -> Tensor:
    """Decide each instance's class from its pixels.

    If the mode of the semantic head's argmax C_sem over an instance's
    pixels is a stuff class that covers at least ``stuff_majority`` of them,
    the instance becomes that stuff; otherwise it keeps the detector's class
    C_inst (also when C_sem agrees with C_inst). ``>=`` follows the official
    code (the paper writes "larger than 0.5").

    Args:
        channel_map (Tensor): (H, W) panoptic argmax: ``[0, S)`` stuff,
            ``[S, S + N)`` instance, ``S + N`` unknown.
        semantic_labels (Tensor): (H, W) argmax of the semantic logits over
            ``T + S`` classes.
        instance_labels (Tensor): (N,) detector classes in ``[0, T)``.
        num_things_classes (int): T.
        num_stuff_classes (int): S.
        stuff_majority (float): Minimum share of the mode.

    Returns:
        Tensor: (N,) classes: ``[0, T)`` thing, ``[T, T + S)`` stuff.
    """
    num_instances = instance_labels.shape[0]
    if num_instances == 0:
        return instance_labels.clone()
    num_classes = num_things_classes + num_stuff_classes
    instance = channel_map.reshape(-1).long() - num_stuff_classes
    on_instance = (instance >= 0) & (instance < num_instances)
    pair = instance[on_instance] * num_classes + \
        semantic_labels.reshape(-1)[on_instance].long()
    counts = torch.bincount(
        pair,
        minlength=num_instances * num_classes).reshape(num_instances,
                                                       num_classes)
    mode_count, mode = counts.max(dim=1)
    area = counts.sum(dim=1)
    to_stuff = (mode >= num_things_classes) & (area > 0) & \
        (mode_count >= stuff_majority * area)
    return torch.where(to_stuff, mode, instance_labels.long())


def compose_panoptic_map(channel_map: Tensor,
                         instance_classes: Tensor,
                         num_things_classes: int,
                         num_stuff_classes: int,
                         stuff_area_limit: int = 4096) -> Tensor:
    """mmdet's panoptic map from the panoptic argmax.

    Stuff pixels get their class ``T + s``; pixels of an instance assigned
    a thing class get ``class + id * INSTANCE_OFFSET`` with ids 1, 2, ...
    over the instances that have pixels (no limit on their number);
    instances assigned a stuff class join that stuff; unknown pixels and
    stuff classes whose total area is below ``stuff_area_limit`` are VOID
    (``T + S``).

    Args:
        channel_map (Tensor): (H, W) panoptic argmax (see
            :func:`assign_instance_classes`).
        instance_classes (Tensor): (N,) classes from
            :func:`assign_instance_classes`.
        num_things_classes (int): T.
        num_stuff_classes (int): S.
        stuff_area_limit (int): Smallest area of a kept stuff class.

    Returns:
        Tensor: (H, W) long panoptic map.
    """
    num_classes = num_things_classes + num_stuff_classes
    num_instances = instance_classes.shape[0]
    channel = channel_map.long()
    instance = (channel - num_stuff_classes).clamp(0,
                                                   max(num_instances - 1, 0))
    is_stuff = channel < num_stuff_classes
    is_instance = (channel >= num_stuff_classes) & (
        channel < num_stuff_classes + num_instances)
    if num_instances > 0:
        classes = instance_classes.long()
        area = torch.bincount(
            (channel - num_stuff_classes)[is_instance],
            minlength=num_instances)
        is_thing = (classes < num_things_classes) & (area > 0)
        instance_id = torch.cumsum(is_thing.long(), 0)  # 1, 2, ...
        instance_value = torch.where(is_thing,
                                     classes + instance_id * INSTANCE_OFFSET,
                                     classes)
        instance_pixels = instance_value[instance]
    else:
        instance_pixels = torch.zeros_like(channel)
    pan = torch.where(
        is_stuff, channel + num_things_classes,
        torch.where(is_instance, instance_pixels,
                    channel.new_full((), num_classes)))
    # stuff-area trimming (paper 4): small stuff classes become VOID
    return trim_small_stuff(pan, num_things_classes, num_stuff_classes,
                            stuff_area_limit)
