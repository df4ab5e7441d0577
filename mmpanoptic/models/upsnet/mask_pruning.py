"""UPSNet's mask pruning at inference (paper section 3.2)."""
import torch
from torch import Tensor

from .panoptic_logits import BoxPixels


def prune_masks(pixels: BoxPixels,
                mask_values: Tensor,
                labels: Tensor,
                height: int,
                width: int,
                overlap_thr: float = 0.3,
                mask_thr: float = 0.0,
                class_agnostic: bool = False) -> Tensor:
    """Keep instances whose mask does not mostly lie on higher-scoring kept
    masks of the same class.

    Instances are visited in the given order (decreasing score). Each binary
    mask (pasted mask logits > ``mask_thr``) is compared with a per-class
    canvas holding the union of the kept masks; if the intersection exceeds
    ``overlap_thr`` of the mask's area it is dropped, otherwise it is drawn
    onto the canvas. A mask that is empty (no pixel above ``mask_thr`` in
    the image) is dropped, as the official ``MaskRemoval`` does: it would
    otherwise still compete in the panoptic argmax through its semantic
    logits. The visit is inherently sequential; each step only touches the
    pixels of one mask.

    Args:
        pixels (BoxPixels): pairs of the instances' box pixels.
        mask_values (Tensor): (P,) pasted mask logits at the pairs.
        labels (Tensor): (N,) classes of the instances.
        height (int): Image height.
        width (int): Image width.
        overlap_thr (float): Maximum intersection over the mask's own area.
        mask_thr (float): Binarisation threshold of the mask logits (0 is a
            probability of 0.5).
        class_agnostic (bool): One canvas for all classes (the heuristic
            combination of Kirillov et al. uses this).

    Returns:
        Tensor: (N,) bool keep flags.
    """
    num_instances = labels.shape[0]
    keep = torch.ones(num_instances, dtype=torch.bool, device=labels.device)
    if num_instances == 0:
        return keep
    if class_agnostic:
        canvas_of = torch.zeros_like(labels, dtype=torch.long)
    else:
        canvas_of = torch.unique(labels, return_inverse=True)[1]
    canvases = torch.zeros((int(canvas_of.max()) + 1, height * width),
                           dtype=torch.bool, device=labels.device)
    # pixels of the binary masks, still grouped by instance
    foreground = mask_values > mask_thr
    mask_index = pixels.flat_index(width)[foreground]
    mask_area = torch.bincount(
        pixels.instance[foreground], minlength=num_instances)
    offsets = torch.cat([mask_area.new_zeros(1), mask_area.cumsum(0)])
    offsets, areas = offsets.tolist(), mask_area.tolist()
    canvas_list = canvas_of.tolist()
    for i in range(num_instances):
        if areas[i] == 0:
            keep[i] = False
            continue
        index = mask_index[offsets[i]:offsets[i + 1]]
        canvas = canvases[canvas_list[i]]
        overlap = int(canvas[index].sum())
        if overlap > overlap_thr * areas[i]:
            keep[i] = False
        else:
            canvas[index] = True
    return keep
