"""Weighted Dice loss of Panoptic FCN (paper eq. (6)-(8))."""
from typing import Optional

from torch import Tensor, nn

from mmpanoptic.registry import MODELS


def dice_loss(probs: Tensor, targets: Tensor, eps: float = 1e-8) -> Tensor:
    """V-Net Dice loss ``1 - 2 sum(p t) / (sum p^2 + sum t^2)``, eq. (6).

    Args:
        probs (Tensor): (..., P) probabilities.
        targets (Tensor): (..., P) soft or binary targets (broadcastable).
        eps (float): denominator clamp.

    Returns:
        Tensor: (...) loss per prediction.
    """
    numerator = 2 * (probs * targets).sum(dim=-1)
    denominator = (probs**2).sum(dim=-1) + (targets**2).sum(dim=-1)
    return 1 - numerator / denominator.clamp(min=eps)


def weighted_dice_loss(logits: Tensor,
                       targets: Tensor,
                       weights: Tensor,
                       eps: float = 1e-8) -> Tensor:
    """Weighted Dice over k predictions of each object, eq. (7).

    ``WDice_j = sum_k w_k Dice(P_{j,k}, Y_j)`` with ``w_k = s_k / sum s``
    over every pixel of the map (the official code: padding and ignored
    pixels are negatives). Gradients reach the scores ``s`` too.

    Args:
        logits (Tensor): (M, k, P) mask logits of k kernels per object.
        targets (Tensor): (M, P) targets shared by the k predictions.
        weights (Tensor): (M, k) non-negative scores ``s_k``; normalised here.
        eps (float): clamp of denominators.

    Returns:
        Tensor: (M,) weighted Dice per object.
    """
    if logits.dim() != 3:
        raise ValueError(
            f'logits must be (M, k, P), got {tuple(logits.shape)}')
    if targets.shape != (logits.shape[0], logits.shape[2]):
        raise ValueError(f'targets {tuple(targets.shape)} do not match '
                         f'logits {tuple(logits.shape)}')
    if weights.shape != logits.shape[:2]:
        raise ValueError(f'weights {tuple(weights.shape)} do not match '
                         f'logits {tuple(logits.shape)}')
    probs = logits.sigmoid()
    targets = targets.to(probs.dtype)
    per_kernel = dice_loss(probs, targets[:, None], eps)  # (M, k)
    norm_weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=eps)
    return (per_kernel * norm_weights).sum(dim=1)


@MODELS.register_module()
class WeightedDiceLoss(nn.Module):
    """Weighted Dice loss (Panoptic FCN eq. (7)-(8)).

    Args:
        loss_weight (float): lambda_seg of eq. (9). Defaults to 3.0 (COCO;
            4.0 for Cityscapes).
        eps (float): denominator clamp. Defaults to 1e-8.
    """

    def __init__(self, loss_weight: float = 3.0, eps: float = 1e-8) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self,
                logits: Tensor,
                targets: Tensor,
                weights: Optional[Tensor] = None,
                avg_factor: Optional[float] = None) -> Tensor:
        """Sum of the per-object weighted Dice / ``avg_factor``, eq. (8).

        Args:
            logits (Tensor): (M, k, P) or (M, P) (k = 1).
            targets (Tensor): (M, P).
            weights (Tensor, optional): (M, k); uniform if None.
            avg_factor (float, optional): normaliser (number of objects);
                M if None.

        Returns:
            Tensor: scalar loss.
        """
        if logits.dim() == 2:
            logits = logits[:, None]
        if weights is None:
            weights = logits.new_ones(logits.shape[:2])
        if avg_factor is None:
            avg_factor = max(logits.shape[0], 1)
        if logits.shape[0] == 0:
            return logits.sum() * 0
        loss = weighted_dice_loss(logits, targets, weights, self.eps)
        return self.loss_weight * loss.sum() / avg_factor
