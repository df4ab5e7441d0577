"""Score-ordered thing laying, drawing and stuff trimming on hand-made
maps."""
import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET

from mmpanoptic.models.building_blocks import (draw_things,
                                               lay_things_by_score,
                                               trim_small_stuff)


def _row_masks(*spans, width=8):
    masks = torch.zeros(len(spans), 1, width, dtype=torch.bool)
    for k, (start, end) in enumerate(spans):
        masks[k, 0, start:end] = True
    return masks


def test_masks_take_their_free_pixels_in_order():
    masks = _row_masks((0, 4), (2, 6), (6, 8))
    owner, laid = lay_things_by_score(masks, overlap_thr=0.5)
    assert owner.tolist() == [[0, 0, 0, 0, 1, 1, 2, 2]]
    assert laid.tolist() == [True, True, True]


def test_mostly_covered_mask_is_skipped_and_hides_nothing():
    # B: 3 of 4 taken by A -> skipped; C overlaps only B -> laid whole
    masks = _row_masks((0, 4), (1, 5), (4, 7))
    owner, laid = lay_things_by_score(masks, overlap_thr=0.5)
    assert laid.tolist() == [True, False, True]
    assert owner.tolist() == [[0, 0, 0, 0, 2, 2, 2, -1]]


def test_empty_mask_and_threshold_equality():
    masks = _row_masks((0, 4), (0, 0), (2, 6))  # C: exactly half taken
    owner, laid = lay_things_by_score(masks, overlap_thr=0.5)
    assert laid.tolist() == [True, False, True]
    assert owner.tolist() == [[0, 0, 0, 0, 2, 2, -1, -1]]


def test_relations_let_a_front_class_take_covered_pixels():
    person, tie = 0, 1
    masks = _row_masks((0, 8), (3, 5))
    labels = torch.tensor([person, tie])
    relations = torch.zeros(2, 2, dtype=torch.bool)
    owner, laid = lay_things_by_score(masks, 0.5)
    assert laid.tolist() == [True, False]
    relations[tie, person] = True  # a tie is never covered by a person
    owner, laid = lay_things_by_score(masks, 0.5, labels, relations)
    assert laid.tolist() == [True, True]
    assert owner.tolist() == [[0, 0, 0, 1, 1, 0, 0, 0]]


def test_draw_things_numbers_the_masks_that_own_pixels():
    owner = torch.tensor([[0, 0, 2, -1]])
    labels = torch.tensor([3, 4, 5])  # mask 1 owns nothing
    panoptic = draw_things(torch.full((1, 4), 9), owner, labels)
    assert panoptic.tolist() == [[
        3 + INSTANCE_OFFSET, 3 + INSTANCE_OFFSET, 5 + 2 * INSTANCE_OFFSET, 9
    ]]
    empty = draw_things(torch.full((1, 2), 9), torch.full((1, 2), -1),
                        torch.zeros(0, dtype=torch.long))
    assert empty.tolist() == [[9, 9]]


def test_trim_small_stuff_keeps_things_and_large_stuff():
    # T = 2, S = 2 (labels 2, 3), VOID = 4
    panoptic = torch.tensor([[2, 2, 2, 3, 1 + INSTANCE_OFFSET, 4]])
    trimmed = trim_small_stuff(panoptic, 2, 2, area_limit=2)
    assert trimmed.tolist() == [[2, 2, 2, 4, 1 + INSTANCE_OFFSET, 4]]
    assert torch.equal(trim_small_stuff(panoptic, 2, 2, 0), panoptic)
    assert torch.equal(trim_small_stuff(panoptic, 2, 0, 10), panoptic)
