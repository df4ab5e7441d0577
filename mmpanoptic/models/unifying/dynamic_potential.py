"""Dynamic potential of the Unifying model (Li, Qi, Torr), as pure functions.

One channel per detection (``D``) and one per stuff class (``N_st``, a
whole-image "stuff box" with score 1), filled inside the box with the
semantic probability of the box class, the detection score and optionally
the pasted instance mask (eq. (1)-(2), Fig. 4), 0 outside:

- variant ``'A'`` (UPSNet-style): ``V_i(c_k) [+ M_i(k)]``, no score;
- variant ``'B'``: ``s_k V_i(c_k) [* M_i(k)]`` (the paper's Cityscapes choice);
- variant ``'C'``: ``s_k (V_i(c_k) [+ M_i(k)])`` (the paper's COCO choice);
- variant ``'C-unscaled-mask'``: ``s_k V_i(c_k) [+ M_i(k)]``, the mask added
  after the score.

The paper's eq. (2) lost its operator placement in print; its stated
purpose of the score, "unconfident detections will be attenuated by its
score" (Sec. 3.4.1), holds for ``s (V + M)``: with ``s V + M`` a confident
mask lifts a detection of any score above every stuff probability.

Without masks B and both C are eq. (1).
"""
from typing import Optional

import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from mmpanoptic.registry import MODELS

from ..building_blocks.mask_paste import box_region_masks, paste_masks

POTENTIAL_VARIANTS = ('A', 'B', 'C', 'C-unscaled-mask')


def dynamic_potential(semantic_probs: Tensor,
                      boxes: Tensor,
                      scores: Tensor,
                      labels: Tensor,
                      num_things_classes: int,
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
        num_things_classes (int): N_th.
        stride (float): input pixels per pixel of ``semantic_probs``.
        mask_probs (Tensor, optional): (D, h, w) RoI mask probabilities of
            each detection's class (e.g. 28 x 28); pasted into the boxes
            (``M``, 0 outside) by :func:`paste_masks`.
        variant (str): 'A', 'B', 'C' or 'C-unscaled-mask'.
        chunk_size (int): detections processed together.

    Returns:
        Tensor: (D + N_st, H, W) potential; channel k < D is detection k,
        channel D + j is stuff class N_th + j (a whole-image box, score 1).
    """
    if variant not in POTENTIAL_VARIANTS:
        raise ValueError(f'variant must be one of {POTENTIAL_VARIANTS}, '
                         f'got {variant!r}')
    num_classes, height, width = semantic_probs.shape
    if not 0 < num_things_classes <= num_classes:
        raise ValueError(
            f'num_things_classes={num_things_classes} must be in (0, '
            f'{num_classes}] (channels of semantic_probs)')
    num_dets = boxes.shape[0]
    if scores.shape != (num_dets, ) or labels.shape != (num_dets, ):
        raise ValueError(
            f'boxes {tuple(boxes.shape)}, scores {tuple(scores.shape)} and '
            f'labels {tuple(labels.shape)} must describe the same detections')
    if num_dets and (labels.min() < 0 or labels.max() >= num_things_classes):
        raise ValueError('detection labels must be thing classes in '
                         f'[0, {num_things_classes}), got {labels.tolist()}')
    if mask_probs is not None and (mask_probs.dim() != 3
                                   or mask_probs.shape[0] != num_dets):
        raise ValueError(f'mask_probs {tuple(mask_probs.shape)} must be '
                         f'(D, h, w) with D = {num_dets}')

    num_stuff_classes = num_classes - num_things_classes
    potential = semantic_probs.new_empty(
        (num_dets + num_stuff_classes, height, width))
    for start in range(0, num_dets, chunk_size):
        chunk = slice(start, min(start + chunk_size, num_dets))
        inside = box_region_masks(boxes[chunk], height, width, stride)
        thing_potential = semantic_probs[labels[chunk]]  # V_i(c_k)
        score = scores[chunk, None, None]
        if variant in ('B', 'C-unscaled-mask'):
            thing_potential = score * thing_potential  # eq. (1)
        if mask_probs is not None:
            masks = paste_masks(mask_probs[chunk], boxes[chunk], height, width,
                                stride)
            if variant == 'B':
                thing_potential = thing_potential * masks  # eq. (2), product
            else:
                thing_potential = thing_potential + masks  # eq. (2), sum
        if variant == 'C':
            thing_potential = score * thing_potential  # eq. (1)-(2): s (V+M)
        potential[chunk] = thing_potential * inside
    potential[num_dets:] = semantic_probs[
        num_things_classes:]  # whole-image boxes
    return potential


@MODELS.register_module()
class DynamicPotentialHead(BaseModule):
    """Parameter-free assembly of semantic and detection cues into the
    dynamic potential ``Psi`` with D + N_st channels (eq. (1)-(2)).

    Args:
        num_things_classes (int): N_th.
        num_stuff_classes (int): N_st.
        variant (str): 'A' (UPSNet-style, no score), 'B' (multiply by the
            pasted masks, Cityscapes), 'C' (add them, then the score: ``s
            (V + M)``, COCO) or 'C-unscaled-mask' (``s V + M``). Without
            masks B and both C are equal. Defaults to 'B'.
        init_cfg (dict, optional): unused (no parameters).
    """

    def __init__(self,
                 *,
                 num_things_classes: int,
                 num_stuff_classes: int,
                 variant: str = 'B',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if variant not in POTENTIAL_VARIANTS:
            raise ValueError(f'variant must be one of {POTENTIAL_VARIANTS}, '
                             f'got {variant!r}')
        if num_things_classes < 1 or num_stuff_classes < 0:
            raise ValueError('need at least one thing class and a '
                             'non-negative number of stuff classes, got '
                             f'{num_things_classes}, {num_stuff_classes}')
        self.num_things_classes = num_things_classes
        self.num_stuff_classes = num_stuff_classes
        self.variant = variant

    def forward(self, semantic_logits: Tensor, detections: InstanceData,
                stride: float) -> Tensor:
        """Potential of one image.

        Args:
            semantic_logits (Tensor): (N_th + N_st, H, W) semantic logits at
                ``stride``; turned into probabilities ``V`` by a softmax.
            detections (InstanceData): ``bboxes`` (D, 4) in input pixels,
                ``scores`` (D,), ``labels`` (D,) and optionally
                ``mask_probs`` (D, h, w) RoI mask probabilities of the
                detected class (e.g. 28 x 28).
            stride (float): input pixels per pixel of ``semantic_logits``.

        Returns:
            Tensor: (D + N_st, H, W) ``Psi``.
        """
        num_classes = self.num_things_classes + self.num_stuff_classes
        if semantic_logits.dim() != 3 or \
                semantic_logits.shape[0] != num_classes:
            raise ValueError(f'semantic_logits must be ({num_classes}, H, '
                             f'W), got {tuple(semantic_logits.shape)}')
        return dynamic_potential(
            F.softmax(semantic_logits, dim=0),
            detections.bboxes,
            detections.scores,
            detections.labels,
            num_things_classes=self.num_things_classes,
            stride=stride,
            mask_probs=detections.get('mask_probs', None),
            variant=self.variant)
