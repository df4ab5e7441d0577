"""Weighted Dice loss (paper eq. (6)-(8))."""
import pytest
import torch

from mmpanoptic.models.panoptic_fcn.weighted_dice_loss import (
    WeightedDiceLoss, dice_loss, weighted_dice_loss)
from mmpanoptic.registry import MODELS


def test_dice_loss_known_values():
    target = torch.tensor([1., 1., 1., 1.])
    # p = 0.5 everywhere: 1 - 2 * 2 / (1 + 4) = 0.2
    assert dice_loss(torch.full((4, ), 0.5), target).item() == \
        pytest.approx(0.2)
    assert dice_loss(target, target).item() == pytest.approx(0.0)
    assert dice_loss(torch.tensor([0., 0., 1., 1.]),
                     torch.tensor([1., 1., 0., 0.])).item() == \
        pytest.approx(1.0)


def test_weighted_dice_weights_are_normalised_scores():
    target = torch.tensor([[1., 1., 0., 0.]])
    logits = torch.tensor([[
        [20., 20., -20., -20.],  # perfect: dice 0
        [0., 0., 0., 0.]
    ]])  # p = 0.5
    # dice of p = 0.5: 1 - 2 * 1 / (1 + 2) = 1/3
    weights = torch.tensor([[0.6, 0.2]])
    loss = weighted_dice_loss(logits, target, weights)
    assert loss.shape == (1, )
    assert loss.item() == pytest.approx(0.25 * (1 / 3), abs=1e-6)
    # only the relative scores matter (w_k = s_k / sum s)
    assert weighted_dice_loss(logits, target, weights * 7).item() == \
        pytest.approx(loss.item())
    # all-zero scores (no pick inside the object): no loss
    assert weighted_dice_loss(logits, target, torch.zeros(1, 2)).item() == 0


def test_weighted_dice_loss_module_normalises_and_scales():
    loss_module = MODELS.build(dict(type='WeightedDiceLoss', loss_weight=3.))
    logits = torch.zeros(2, 1, 4)
    target = torch.tensor([[1., 1., 1., 1.], [1., 1., 1., 1.]])
    # two objects with dice 0.2 each, normalised by avg_factor=4
    loss = loss_module(logits, target, avg_factor=4)
    assert loss.item() == pytest.approx(3 * 0.4 / 4)
    assert loss_module(logits[:, 0],
                       target).item() == pytest.approx(3 * 0.4 / 2)
    assert loss_module(torch.zeros(0, 1, 4), torch.zeros(0, 4)).item() == 0
    with pytest.raises(ValueError, match='targets'):
        loss_module(logits, target[:, :3])


def test_weighted_dice_gradient_check():
    torch.manual_seed(0)
    logits = torch.randn(3, 2, 6, dtype=torch.double, requires_grad=True)
    target = torch.rand(3, 6, dtype=torch.double)
    weights = torch.rand(3, 2, dtype=torch.double) + 0.1
    assert torch.autograd.gradcheck(
        lambda x: weighted_dice_loss(x, target, weights).sum(), (logits, ))
    # gradient pushes positives up
    loss = WeightedDiceLoss()(logits, (target > 0.5).double(), weights)
    loss.backward()
    positive = (target > 0.5)[:, None].expand_as(logits)
    assert (logits.grad[positive] <= 0).all()
