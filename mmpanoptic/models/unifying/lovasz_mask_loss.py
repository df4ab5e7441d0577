"""Lovasz hinge loss for Mask R-CNN's per-class RoI masks (the Unifying
model's mask head, appendix A.2), using mmseg's ``LovaszLoss``."""
import torch
import torch.nn as nn
from torch import Tensor

from mmpanoptic.registry import MODELS


@MODELS.register_module()
class RoIMaskLovaszHingeLoss(nn.Module):
    """Adapts mmseg's binary ``LovaszLoss`` to ``FCNMaskHead``'s call
    ``loss_mask(mask_preds, mask_targets, labels)``: takes the logits of each
    RoI's class and computes the Lovasz hinge per RoI, averaged.

    Args:
        loss_weight (float): weight of the loss. Defaults to 1.0.
    """

    def __init__(self, *, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.lovasz_hinge = MODELS.build(
            dict(
                type='mmseg.LovaszLoss',
                loss_type='binary',
                per_image=True,
                reduction='mean',
                loss_weight=loss_weight))

    def forward(self, mask_preds: Tensor, mask_targets: Tensor,
                labels: Tensor) -> Tensor:
        """
        Args:
            mask_preds (Tensor): (N, K, h, w) mask logits, K classes (or 1).
            mask_targets (Tensor): (N, h, w) binary targets.
            labels (Tensor): (N,) class of each RoI.

        Returns:
            Tensor: scalar loss.
        """
        if mask_preds.dim() != 4 or mask_targets.shape != (
                mask_preds.shape[0], *mask_preds.shape[2:]):
            raise ValueError(f'mask_preds {tuple(mask_preds.shape)} must be '
                             '(N, K, h, w) and mask_targets (N, h, w), got '
                             f'{tuple(mask_targets.shape)}')
        if mask_preds.shape[0] == 0:
            return mask_preds.sum() * 0
        rois = torch.arange(mask_preds.shape[0], device=labels.device)
        class_logits = mask_preds[rois, labels]  # (N, h, w)
        return self.lovasz_hinge(class_logits, mask_targets.long())
