"""The heuristic combination of Kirillov et al. (Panoptic Segmentation,
2019), as used by UPSNet-C / UPSNet-CP in the UPSNet paper's tables:
instance masks are laid by decreasing score, a mask mostly covered by
already laid masks is skipped, only its free part is drawn; remaining pixels
take the semantic head's argmax if it is a stuff class, else VOID."""
import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET
from torch import Tensor

from .upsnet_logits import BoxPixels, channel_max
from .upsnet_mask_pruning import prune_masks


def heuristic_fusion(semantic_logits: Tensor,
                     labels: Tensor,
                     pixels: BoxPixels,
                     mask_values: Tensor,
                     num_things: int,
                     overlap_thr: float = 0.5,
                     mask_thr: float = 0.0,
                     stuff_area_limit: int = 4096,
                     semantic_labels: Tensor = None) -> Tensor:
    """
    Args:
        semantic_logits (Tensor): (T + S, H, W) semantic logits.
        labels (Tensor): (N,) thing classes, instances sorted by decreasing
            score.
        pixels (BoxPixels): pairs of the instances' box pixels.
        mask_values (Tensor): (P,) pasted mask logits at the pairs.
        num_things (int): T.
        overlap_thr (float): Skip a mask whose overlap with laid masks
            exceeds this share of its area.
        mask_thr (float): Binarisation threshold of the mask logits.
        stuff_area_limit (int): Stuff classes smaller than this are VOID.
        semantic_labels (Tensor, optional): (H, W) argmax of the semantic
            logits when already computed.

    Returns:
        Tensor: (H, W) long panoptic map in mmdet's encoding.
    """
    num_classes, height, width = semantic_logits.shape
    num_pixels = height * width
    if semantic_labels is None:
        semantic_labels = channel_max(semantic_logits)[1]
    semantic = semantic_labels.reshape(-1)
    # stuff from the semantic argmax; semantic "thing" pixels are VOID
    pan = torch.where(semantic >= num_things, semantic,
                      semantic.new_full((), num_classes))
    num_instances = labels.shape[0]
    if num_instances > 0:
        keep = prune_masks(pixels, mask_values, labels, height, width,
                           overlap_thr, mask_thr, class_agnostic=True)
        foreground = (mask_values > mask_thr) & keep[pixels.instance]
        index = pixels.flat_index(width)[foreground]
        instance = pixels.instance[foreground]
        # the first laid (highest-scoring) mask owns a pixel
        owner = index.new_full((num_pixels,), num_instances).scatter_reduce(
            0, index, instance, 'amin', include_self=True)
        has_owner = owner < num_instances
        area = torch.bincount(owner[has_owner], minlength=num_instances)
        instance_id = torch.cumsum((area > 0).long(), 0)
        value = labels.long() + instance_id * INSTANCE_OFFSET
        pan = torch.where(has_owner,
                          value[owner.clamp(max=num_instances - 1)], pan)
    stuff_area = torch.bincount(
        pan[pan < num_classes], minlength=num_classes + 1)
    small = stuff_area < stuff_area_limit
    small[:num_things] = False
    small[num_classes:] = False
    trimmed = (pan < num_classes) & small[pan.clamp(max=num_classes)]
    pan = torch.where(trimmed, pan.new_full((), num_classes), pan)
    return pan.reshape(height, width)
