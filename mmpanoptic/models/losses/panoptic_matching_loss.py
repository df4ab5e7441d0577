"""Panoptic matching loss of the Unifying model (Li, Qi, Torr, Sec. 3.5)."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmpanoptic.registry import MODELS
from .panoptic_matching import panoptic_matching_targets


@MODELS.register_module()
class PanopticMatchingLoss(nn.Module):
    """Match GT segments to predicted detections (eq. (5)), then
    cross-entropy on the panoptic output ``P``.

    The paper calls ``P`` the "panoptic segmentation probabilities" (Sec.
    3.4.2) and computes "a cross-entropy loss" on them (Sec. 3.5): ``Psi`` is
    built from semantic probabilities, scores and mask probabilities, and
    the affinity of :class:`DenseAffinityHead` is row-stochastic, so ``P``
    is non-negative and bounded by 2. ``input_type='probabilities'`` (the
    default) therefore normalises ``P`` over its channels and takes
    ``-log(P_t / sum_k P_k)``. A softmax over such bounded values cannot
    become confident (with 20 channels, a one-hot ``Psi`` gives the right
    channel 0.12 after a softmax), which kept the loss near 1.2 in our
    synthetic training; ``input_type='logits'`` (softmax cross-entropy) is
    kept for heads whose ``P`` are unbounded logits.

    Matching happens before the panoptic submodule runs (:meth:`match`):
    it tells which detections to feed it (duplicates removed) and the
    per-pixel target channel. :meth:`forward` then averages the pixel-wise
    cross-entropy over all non-ignored pixels of the batch.

    Args:
        iou_thr (float): minimum box IoU of a match ``t``. Defaults to 0.5.
        input_type (str): 'probabilities' (``P >= 0``, normalised over
            channels) or 'logits' (softmax). Defaults to 'probabilities'.
        eps (float): added to ``P`` (clamped at 0) before normalising
            ('probabilities' only). Defaults to 1e-6.
        ignore_index (int): ignored target value. Defaults to 255.
        loss_weight (float): weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 *,
                 iou_thr: float = 0.5,
                 input_type: str = 'probabilities',
                 eps: float = 1e-6,
                 ignore_index: int = 255,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if not 0 < iou_thr <= 1:
            raise ValueError(f'iou_thr must be in (0, 1], got {iou_thr}')
        if input_type not in ('probabilities', 'logits'):
            raise ValueError("input_type must be 'probabilities' or "
                             f"'logits', got {input_type!r}")
        self.iou_thr = iou_thr
        self.input_type = input_type
        self.eps = eps
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def match(self, gt_thing_masks: Tensor, gt_thing_boxes: Tensor,
              gt_thing_labels: Tensor, gt_semantic: Tensor, det_boxes: Tensor,
              det_labels: Tensor, num_things: int,
              num_stuff: int) -> Tuple[Tensor, Tensor]:
        """(keep_det (D,) bool, targets (H, W) long) of one image; see
        :func:`panoptic_matching_targets` for the arguments."""
        return panoptic_matching_targets(
            gt_thing_masks, gt_thing_boxes, gt_thing_labels, gt_semantic,
            det_boxes, det_labels, num_things, num_stuff, self.iou_thr,
            self.ignore_index)

    def log_probabilities(self, panoptic_output: Tensor) -> Tensor:
        """(K, H, W) log-probabilities of ``P`` (K, H, W) per pixel."""
        if self.input_type == 'logits':
            return F.log_softmax(panoptic_output, dim=0)
        # P >= 0 up to rounding; + eps keeps the log finite where every
        # channel is 0 and bounds the gradient of a channel near 0
        shifted = panoptic_output.clamp(min=0) + self.eps
        return shifted.log() - shifted.sum(dim=0, keepdim=True).log()

    def forward(self, panoptic_logits: Sequence[Tensor],
                targets: Sequence[Tensor]) -> Tensor:
        """Cross-entropy of the panoptic logits against matched targets.

        Args:
            panoptic_logits (list[Tensor]): per image, (K_i, H_i, W_i) logits
                ``P`` (K_i differs between images).
            targets (list[Tensor]): per image, (H_i, W_i) long channel index
                or ``ignore_index``.

        Returns:
            Tensor: the weighted mean over non-ignored pixels of the batch
            (0, still connected to the logits, when every pixel is ignored).
        """
        if len(panoptic_logits) != len(targets):
            raise ValueError(f'{len(panoptic_logits)} logits for '
                             f'{len(targets)} targets')
        total: List[Tensor] = []
        num_pixels = 0
        for logits, target in zip(panoptic_logits, targets):
            if logits.shape[1:] != target.shape:
                raise ValueError(f'logits {tuple(logits.shape)} and targets '
                                 f'{tuple(target.shape)} differ in size')
            valid = target != self.ignore_index
            num_pixels += int(valid.sum())
            if logits.shape[0] == 0 or not valid.any():
                total.append(logits.sum() * 0)
                continue
            total.append(
                F.nll_loss(
                    self.log_probabilities(logits)[None], target[None],
                    ignore_index=self.ignore_index,
                    reduction='sum'))
        loss = torch.stack(total).sum() / max(num_pixels, 1)
        return self.loss_weight * loss
