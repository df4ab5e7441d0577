"""The heuristic combination of Kirillov et al. (Panoptic Segmentation,
2019), as used by UPSNet-C / UPSNet-CP in the UPSNet paper's tables:
instance masks are laid by decreasing score, a mask mostly covered by
already laid masks is skipped, only its free part is drawn; remaining pixels
take the semantic head's argmax if it is a stuff class, else VOID. Stuff
classes are trimmed by their area in the semantic argmax, before things are
drawn over them, as the official UPSNet code (``_merge_pred_single_core``
in ``upsnet/dataset/base_dataset.py``)."""
import torch
from torch import Tensor

from ..building_blocks.panoptic_composition import (draw_things,
                                                    lay_things_by_score,
                                                    trim_small_stuff)
from .panoptic_logits import BoxPixels


def heuristic_combination(semantic_labels: Tensor,
                          labels: Tensor,
                          pixels: BoxPixels,
                          mask_values: Tensor,
                          num_things_classes: int,
                          num_stuff_classes: int,
                          overlap_thr: float = 0.5,
                          mask_thr: float = 0.0,
                          stuff_area_limit: int = 4096) -> Tensor:
    """
    Args:
        semantic_labels (Tensor): (H, W) argmax of the semantic logits over
            ``T + S`` classes.
        labels (Tensor): (N,) thing classes, instances sorted by decreasing
            score.
        pixels (BoxPixels): pairs of the instances' box pixels.
        mask_values (Tensor): (P,) pasted mask logits at the pairs.
        num_things_classes (int): T.
        num_stuff_classes (int): S.
        overlap_thr (float): Skip a mask whose overlap with laid masks
            exceeds this share of its area.
        mask_thr (float): Binarisation threshold of the mask logits.
        stuff_area_limit (int): Stuff classes whose semantic argmax area is
            smaller than this are VOID.

    Returns:
        Tensor: (H, W) long panoptic map in mmdet's encoding.
    """
    height, width = semantic_labels.shape
    void = num_things_classes + num_stuff_classes
    semantic = semantic_labels.long()
    # stuff from the semantic argmax; semantic "thing" pixels are VOID
    pan = torch.where(semantic >= num_things_classes, semantic,
                      semantic.new_full((), void))
    pan = trim_small_stuff(pan, num_things_classes, num_stuff_classes,
                           stuff_area_limit)
    num_instances = labels.shape[0]
    if num_instances > 0:
        foreground = mask_values > mask_thr
        masks = torch.zeros((num_instances, height * width),
                            dtype=torch.bool,
                            device=labels.device)
        masks[pixels.instance[foreground],
              pixels.flat_index(width)[foreground]] = True
        owner, _ = lay_things_by_score(
            masks.view(num_instances, height, width), overlap_thr)
        pan = draw_things(pan, owner, labels)
    return pan
