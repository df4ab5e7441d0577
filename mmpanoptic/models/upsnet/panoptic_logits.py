"""UPSNet's panoptic logits (paper section 3.1, Fig. 3), as pure functions.

Z = [X_stuff, X_mask_1 + Y_mask_1, ..., X_mask_N + Y_mask_N, Z_unknown]:
X_mask_i is the semantic logit of instance i's class inside its box B_i,
Y_mask_i its mask logits pasted into B_i, both 0 outside B_i, and
Z_unknown = max(X_thing) - max(X_mask) (max over channels).

Two forms of the same thing:

- :func:`panoptic_logits` builds the dense (S + N + 1, H, W) tensor; it is
  differentiable and used for training at 1/4 resolution.
- :func:`panoptic_logits_argmax` computes its per-pixel argmax at full
  resolution without materialising it: every instance only touches the
  pixels of its box (a flat list of (instance, pixel) pairs, batched over
  all instances),
  so memory and time grow with the summed box area, not N x H x W.

Box regions and pasted masks are :mod:`..building_blocks.mask_paste`'s.
"""
from typing import NamedTuple, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..building_blocks.mask_paste import (box_pixel_ranges, box_region_masks,
                                          paste_masks)


def unknown_logits(thing_logits: Tensor,
                   instance_semantic_logits: Tensor) -> Tensor:
    """Z_unknown = max(X_thing) - max(X_mask) over channels.

    Args:
        thing_logits (Tensor): (T, H, W) semantic logits of thing classes.
        instance_semantic_logits (Tensor): (N, H, W) X_mask_i (0 outside
            each box). With N = 0 the max over instances is taken as 0.

    Returns:
        Tensor: (H, W).
    """
    if instance_semantic_logits.shape[0] == 0:
        mask_max = thing_logits.new_zeros(thing_logits.shape[-2:])
    else:
        mask_max = instance_semantic_logits.max(dim=0).values
    return thing_logits.max(dim=0).values - mask_max


def panoptic_logits(semantic_logits: Tensor,
                    boxes: Tensor,
                    labels: Tensor,
                    mask_logits: Tensor,
                    num_things_classes: int,
                    with_unknown: bool = True) -> Tensor:
    """The dense panoptic logits Z (differentiable).

    Args:
        semantic_logits (Tensor): (T + S, H, W) X, things first.
        boxes (Tensor): (N, 4) instance boxes in pixels of X.
        labels (Tensor): (N,) thing classes in [0, T).
        mask_logits (Tensor): (N, M, M) mask logits of each instance's class.
        num_things_classes (int): T.
        with_unknown (bool): Append Z_unknown (False: the "no unknown"
            setting of the paper's Table 6).

    Returns:
        Tensor: (S + N + 1, H, W): stuff, instances, unknown; (S + N, H, W)
        without the unknown channel.
    """
    height, width = semantic_logits.shape[-2:]
    thing_logits = semantic_logits[:num_things_classes]
    stuff_logits = semantic_logits[num_things_classes:]
    inside = box_region_masks(boxes, height, width)
    instance_semantic = semantic_logits[labels.long()] * inside  # X_mask
    instance_masks = paste_masks(mask_logits, boxes, height, width)
    instance = instance_semantic + instance_masks  # Z_{S+i} = X_mask + Y_mask
    if not with_unknown:
        return torch.cat([stuff_logits, instance], dim=0)
    unknown = unknown_logits(thing_logits, instance_semantic)
    return torch.cat([stuff_logits, instance, unknown[None]], dim=0)


def channel_max(logits: Tensor) -> Tuple[Tensor, Tensor]:
    """Max and argmax over the channels of (C, ...) logits; with C = 0 the
    maximum is -inf and the index 0. (``max(dim=0)`` also gives the index
    and is several times faster on CPU than ``argmax(dim=0)``.)"""
    if logits.shape[0] == 0:
        return (logits.new_full(logits.shape[1:], float('-inf')),
                torch.zeros(
                    logits.shape[1:], dtype=torch.long, device=logits.device))
    values, indices = logits.max(dim=0)
    return values, indices


class BoxPixels(NamedTuple):
    """The (instance, pixel) pairs of all pixels inside all boxes, grouped
    by instance in increasing order.

    instance (Tensor): (P,) long, the instance of each pair.
    y (Tensor): (P,) long pixel row.
    x (Tensor): (P,) long pixel column.
    offsets (Tensor): (N + 1,) long, pairs of instance i are
        ``offsets[i]:offsets[i + 1]``.
    """
    instance: Tensor
    y: Tensor
    x: Tensor
    offsets: Tensor

    def flat_index(self, width: int) -> Tensor:
        return self.y * width + self.x


def box_pixels(boxes: Tensor, height: int, width: int) -> BoxPixels:
    """Enumerate the pixels inside every box (vectorised over boxes)."""
    x0, y0, x1, y1 = box_pixel_ranges(boxes, height, width)
    box_w = (x1 - x0 + 1).clamp(min=0)
    box_h = (y1 - y0 + 1).clamp(min=0)
    areas = box_w * box_h
    offsets = torch.cat([areas.new_zeros(1), areas.cumsum(0)])
    instance = torch.repeat_interleave(
        torch.arange(boxes.shape[0], device=boxes.device), areas)
    # per-pair position inside its box, row-major
    local = torch.arange(int(offsets[-1]), device=boxes.device) - \
        torch.repeat_interleave(offsets[:-1], areas)
    pair_w = torch.repeat_interleave(box_w, areas)
    y = torch.div(local, pair_w, rounding_mode='floor')
    x = local - y * pair_w
    y += torch.repeat_interleave(y0, areas)
    x += torch.repeat_interleave(x0, areas)
    return BoxPixels(instance, y, x, offsets)


def sample_mask_logits(mask_logits: Tensor, boxes: Tensor,
                       pixels: BoxPixels) -> Tensor:
    """Y_mask at the given pairs: bilinear sampling of each instance's mask
    logits at the pixel centres, the same values as
    :func:`paste_masks` inside the boxes.

    Returns:
        Tensor: (P,) float.
    """
    if pixels.instance.numel() == 0:
        return mask_logits.new_zeros(0, dtype=torch.float32)
    size = mask_logits.shape[-1]
    # a one-pixel zero border reproduces grid_sample's zero padding
    padded = F.pad(mask_logits.float(), (1, 1, 1, 1)).reshape(-1)
    side = size + 2
    boxes = boxes.float()
    # mask coordinate u = x * scale + shift (+1 for the border), per box
    scale_x = size / (boxes[:, 2] - boxes[:, 0]).clamp(min=1e-6)
    scale_y = size / (boxes[:, 3] - boxes[:, 1]).clamp(min=1e-6)
    shift_x = (0.5 - boxes[:, 0]) * scale_x + 0.5
    shift_y = (0.5 - boxes[:, 1]) * scale_y + 0.5
    areas = pixels.offsets[1:] - pixels.offsets[:-1]
    u = pixels.x * torch.repeat_interleave(scale_x, areas) + \
        torch.repeat_interleave(shift_x, areas)
    v = pixels.y * torch.repeat_interleave(scale_y, areas) + \
        torch.repeat_interleave(shift_y, areas)
    u = u.clamp_(0, side - 1)
    v = v.clamp_(0, side - 1)
    u0 = u.floor().long().clamp_(max=side - 2)
    v0 = v.floor().long().clamp_(max=side - 2)
    du = u - u0
    dv = v - v0
    base = pixels.instance * (side * side) + v0 * side + u0
    top = torch.lerp(padded.take(base), padded.take(base + 1), du)
    bottom = torch.lerp(
        padded.take(base + side), padded.take(base + side + 1), du)
    return torch.lerp(top, bottom, dv)


def select_instances(pixels: BoxPixels, values: Tensor,
                     keep: Tensor) -> Tuple[BoxPixels, Tensor]:
    """Restrict pairs (and their values) to the kept instances, renumbered
    0..K-1 in order."""
    selected = keep[pixels.instance]
    new_index = torch.cumsum(keep.long(), 0) - 1
    areas = (pixels.offsets[1:] - pixels.offsets[:-1])[keep]
    offsets = torch.cat([areas.new_zeros(1), areas.cumsum(0)])
    return BoxPixels(new_index[pixels.instance[selected]], pixels.y[selected],
                     pixels.x[selected], offsets), values[selected]


class SemanticMaxima(NamedTuple):
    """Per-pixel maxima of the semantic logits over the stuff and the
    thing channels (each (H, W)); the argmax over all ``T + S`` classes
    (C_sem) follows from them without another pass."""
    stuff_max: Tensor
    stuff_arg: Tensor
    thing_max: Tensor
    thing_arg: Tensor

    def labels(self, num_things_classes: int) -> Tensor:
        """(H, W) argmax over all classes (things first on ties)."""
        return torch.where(self.thing_max >= self.stuff_max, self.thing_arg,
                           self.stuff_arg + num_things_classes)


def semantic_maxima(semantic_logits: Tensor,
                    num_things_classes: int) -> SemanticMaxima:
    """Max and argmax of (T + S, H, W) logits over stuff and things."""
    stuff_max, stuff_arg = channel_max(semantic_logits[num_things_classes:])
    thing_max, thing_arg = channel_max(semantic_logits[:num_things_classes])
    return SemanticMaxima(stuff_max, stuff_arg, thing_max, thing_arg)


def panoptic_logits_argmax(semantic_logits: Tensor,
                           labels: Tensor,
                           pixels: BoxPixels,
                           mask_values: Tensor,
                           num_things_classes: int,
                           maxima: SemanticMaxima = None,
                           with_unknown: bool = True) -> Tensor:
    """Per-pixel argmax of :func:`panoptic_logits` without building Z.

    An instance's logit is 0 outside its box (paper); a pixel whose
    maximum is such an out-of-box 0 belongs to no instance containing it and
    is given the unknown channel (with or without Z_unknown). Ties are
    broken towards stuff, then in-box instances (lowest index), then
    unknown.

    Args:
        semantic_logits (Tensor): (T + S, H, W) X at the output resolution.
        labels (Tensor): (N,) thing classes of the instances.
        pixels (BoxPixels): pairs of the instances' box pixels.
        mask_values (Tensor): (P,) Y_mask at the pairs.
        num_things_classes (int): T.
        maxima (SemanticMaxima, optional): :func:`semantic_maxima` of
            ``semantic_logits`` when already computed.
        with_unknown (bool): Whether Z has the unknown channel; without it
            only out-of-box maxima give ``S + N``.

    Returns:
        Tensor: (H, W) long: ``[0, S)`` stuff class index, ``[S, S + N)``
        instance, ``S + N`` unknown.
    """
    num_classes, height, width = semantic_logits.shape
    num_stuff_classes = num_classes - num_things_classes
    num_instances = labels.shape[0]
    num_pixels = height * width
    flat_logits = semantic_logits.reshape(num_classes, num_pixels)
    if maxima is None:
        maxima = semantic_maxima(semantic_logits, num_things_classes)
    stuff_max = maxima.stuff_max.reshape(-1)
    stuff_arg = maxima.stuff_arg.reshape(-1)
    thing_max = maxima.thing_max.reshape(-1)
    unknown_channel = num_stuff_classes + num_instances
    if num_instances == 0:
        unknown = thing_max  # - max(X_mask) taken as 0
        if not with_unknown:
            return stuff_arg.reshape(height, width)
        channel = torch.where(stuff_max >= unknown, stuff_arg,
                              stuff_arg.new_full((), unknown_channel))
        return channel.reshape(height, width)

    index = pixels.flat_index(width)
    # X_mask_i and Z_{S+i} = X_mask_i + Y_mask_i at the pairs
    instance_semantic = flat_logits.reshape(-1).take(
        labels.long()[pixels.instance] * num_pixels + index)
    instance_logit = instance_semantic + mask_values
    coverage = torch.bincount(index, minlength=num_pixels)
    uncovered = coverage < num_instances  # some box misses: a 0 channel

    neg_inf = flat_logits.new_full((num_pixels, ), float('-inf'))
    inside_max = neg_inf.scatter_reduce(
        0, index, instance_logit, 'amax', include_self=True)
    # lowest instance index reaching the in-box maximum
    is_max = instance_logit == inside_max[index]
    inside_arg = index.new_full((num_pixels, ), num_instances).scatter_reduce(
        0, index[is_max], pixels.instance[is_max], 'amin', include_self=True)
    zero = flat_logits.new_zeros(())
    instance_max = torch.where(uncovered, torch.maximum(inside_max, zero),
                               inside_max)
    inside_wins = inside_max >= instance_max

    mask_max = neg_inf.scatter_reduce(
        0, index, instance_semantic, 'amax', include_self=True)
    mask_max = torch.where(uncovered, torch.maximum(mask_max, zero), mask_max)
    unknown = thing_max - mask_max  # Z_unknown
    if not with_unknown:
        unknown = torch.full_like(unknown, float('-inf'))

    instance_channel = torch.where(inside_wins, num_stuff_classes + inside_arg,
                                   inside_arg.new_full((), unknown_channel))
    channel = torch.where(
        (stuff_max >= instance_max) & (stuff_max >= unknown), stuff_arg,
        torch.where(instance_max >= unknown, instance_channel,
                    stuff_arg.new_full((), unknown_channel)))
    return channel.reshape(height, width)
