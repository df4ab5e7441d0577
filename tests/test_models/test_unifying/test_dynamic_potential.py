import pytest
import torch
from mmengine.structures import InstanceData

from mmpanoptic.models.building_blocks.mask_paste import (box_region_masks,
                                                          paste_masks)
from mmpanoptic.models.unifying.dynamic_potential import (DynamicPotentialHead,
                                                          dynamic_potential)

# 2 thing classes, 2 stuff classes on a 4 x 6 map of stride 2 (8 x 12 input)
NUM_THINGS = 2


def _semantic_probs():
    probs = torch.zeros(4, 4, 6)
    probs[0] = 0.5
    probs[1] = 0.2
    probs[2] = 0.1
    probs[3] = 0.2
    return probs


# box 0 covers map pixels x in [1, 3], y in [0, 1]; box 1 x in [4, 5], y 2-3
BOXES = torch.tensor([[2., 0., 8., 4.], [8., 4., 12., 8.]])
SCORES = torch.tensor([0.8, 0.5])
LABELS = torch.tensor([0, 1])


def test_box_region_masks_use_pixel_centres():
    inside = box_region_masks(BOXES, 4, 6, stride=2)
    expected = torch.zeros(2, 4, 6, dtype=torch.bool)
    expected[0, 0:2, 1:4] = True
    expected[1, 2:4, 4:6] = True
    assert torch.equal(inside, expected)


@pytest.mark.parametrize('variant', ['A', 'B', 'C', 'C-unscaled-mask'])
def test_potential_without_masks(variant):
    probs = _semantic_probs()
    psi = dynamic_potential(
        probs, BOXES, SCORES, LABELS, NUM_THINGS, 2, variant=variant)
    assert psi.shape == (2 + 2, 4, 6)
    inside = box_region_masks(BOXES, 4, 6, 2)
    scale = torch.ones(2) if variant == 'A' else SCORES
    # eq. (1): s_k V_i(c_k) inside the box, 0 outside (A: no score)
    expected_thing0 = torch.where(inside[0], scale[0] * 0.5, 0.)
    expected_thing1 = torch.where(inside[1], scale[1] * 0.2, 0.)
    torch.testing.assert_close(psi[0], expected_thing0)
    torch.testing.assert_close(psi[1], expected_thing1)
    # whole-image stuff boxes, score 1
    torch.testing.assert_close(psi[2:], probs[2:])


@pytest.mark.parametrize('chunk_size', [1, 16])
def test_potential_with_masks_variants(chunk_size):
    probs = _semantic_probs()
    # constant RoI masks: pasted, they are that constant inside the box
    mask_probs = torch.stack(
        [torch.full((7, 7), 0.9),
         torch.full((7, 7), 0.4)])
    inside = box_region_masks(BOXES, 4, 6, 2).float()
    masks = paste_masks(mask_probs, BOXES, 4, 6, 2) * inside
    torch.testing.assert_close(
        masks,
        torch.tensor([0.9, 0.4])[:, None, None] * inside)
    psi = {
        variant:
        dynamic_potential(
            probs,
            BOXES,
            SCORES,
            LABELS,
            NUM_THINGS,
            2,
            mask_probs=mask_probs,
            variant=variant,
            chunk_size=chunk_size)
        for variant in ('A', 'B', 'C', 'C-unscaled-mask')
    }
    class_probs = torch.stack([probs[0], probs[1]])
    s = SCORES[:, None, None]
    # eq. (2): product (B) or sum (C) with the pasted mask, inside the box;
    # C scales the sum by the score, C-unscaled-mask only V
    torch.testing.assert_close(psi['A'][:2], (class_probs + masks) * inside)
    torch.testing.assert_close(psi['B'][:2], s * class_probs * masks * inside)
    torch.testing.assert_close(psi['C'][:2],
                               s * (class_probs + masks) * inside)
    torch.testing.assert_close(psi['C-unscaled-mask'][:2],
                               (s * class_probs + masks) * inside)
    torch.testing.assert_close(psi['B'][0, 1, 2],
                               torch.tensor(0.8 * 0.5 * 0.9))
    torch.testing.assert_close(psi['C'][1, 3, 5],
                               torch.tensor(0.5 * (0.2 + 0.4)))
    torch.testing.assert_close(psi['C-unscaled-mask'][1, 3, 5],
                               torch.tensor(0.5 * 0.2 + 0.4))
    for variant in psi:
        torch.testing.assert_close(psi[variant][2:], probs[2:])


def test_variant_c_attenuates_unconfident_detections():
    """Sec. 3.4.1: "unconfident detections will be attenuated by its
    score". A 0.2-score detection with a confident mask must not take
    pixels from a likely stuff class (V = 0.6) under variant C, s (V + M);
    with s V + M its mask alone (0.95) would win."""
    probs = torch.zeros(3, 2, 2)
    probs[0] = 0.3  # the thing class
    probs[1] = 0.6  # a stuff class
    probs[2] = 0.1
    box = torch.tensor([[0., 0., 4., 4.]])  # the whole 2 x 2 map
    args = (probs, box, torch.tensor([0.2]), torch.tensor([0]), 1, 2)
    mask_probs = torch.full((1, 7, 7), 0.95)
    psi = dynamic_potential(*args, mask_probs=mask_probs, variant='C')
    torch.testing.assert_close(psi[0], torch.full((2, 2), 0.2 * 1.25))
    assert (psi.argmax(0) == 1).all()  # the stuff class
    psi = dynamic_potential(
        *args, mask_probs=mask_probs, variant='C-unscaled-mask')
    assert (psi.argmax(0) == 0).all()


def test_zero_detections_give_stuff_channels_only():
    probs = _semantic_probs()
    psi = dynamic_potential(probs, torch.zeros(0, 4), torch.zeros(0),
                            torch.zeros(0, dtype=torch.long), NUM_THINGS, 2)
    torch.testing.assert_close(psi, probs[2:])


def test_bad_inputs_are_rejected():
    probs = _semantic_probs()
    with pytest.raises(ValueError, match='variant'):
        dynamic_potential(
            probs, BOXES, SCORES, LABELS, NUM_THINGS, 2, variant='D')
    with pytest.raises(ValueError, match='thing classes'):
        dynamic_potential(probs, BOXES, SCORES, torch.tensor([0, 2]),
                          NUM_THINGS, 2)
    with pytest.raises(ValueError, match='same detections'):
        dynamic_potential(probs, BOXES, SCORES[:1], LABELS, NUM_THINGS, 2)


def test_paste_mask_probs_fills_box_and_is_differentiable():
    mask_probs = torch.full((1, 7, 7), 0.6, requires_grad=True)
    pasted = paste_masks(mask_probs, BOXES[:1], 4, 6, stride=2)
    inside = box_region_masks(BOXES[:1], 4, 6, 2)[0]
    torch.testing.assert_close(pasted[0][inside],
                               torch.full((int(inside.sum()), ), 0.6))
    assert (pasted[0][~inside].abs() < 0.6).all()
    assert (pasted[0][~inside] == 0).all()
    pasted.sum().backward()
    assert mask_probs.grad.abs().sum() > 0


def test_head_uses_softmax_probabilities_and_mask_probs():
    head = DynamicPotentialHead(
        num_things_classes=2, num_stuff_classes=2, variant='B')
    logits = torch.randn(4, 4, 6)
    detections = InstanceData(bboxes=BOXES, scores=SCORES, labels=LABELS)
    psi = head(logits, detections, stride=2)
    expected = dynamic_potential(
        logits.softmax(0), BOXES, SCORES, LABELS, 2, 2)
    torch.testing.assert_close(psi, expected)
    detections.mask_probs = torch.ones(2, 7, 7)
    psi_masked = head(logits, detections, stride=2)
    # all-ones masks pasted inside the boxes: the product leaves Psi as is
    torch.testing.assert_close(psi_masked, expected)
    with pytest.raises(ValueError, match='semantic_logits'):
        head(torch.randn(3, 4, 6), detections, stride=2)


def test_potential_is_differentiable_in_scores_probs_and_masks():
    probs = _semantic_probs().requires_grad_()
    scores = SCORES.clone().requires_grad_()
    mask_probs = torch.rand(2, 7, 7, requires_grad=True)
    psi = dynamic_potential(
        probs,
        BOXES,
        scores,
        LABELS,
        NUM_THINGS,
        2,
        mask_probs=mask_probs,
        variant='B',
        chunk_size=1)
    psi.sum().backward()
    for tensor in (probs, scores, mask_probs):
        assert tensor.grad.abs().sum() > 0
