"""Inference post-processing of Panoptic FCN."""
import pytest
import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET

from mmpanoptic.models.panoptic_fcn.postprocessing import (
    combine_things_and_stuff, maskness_rescore, stuff_candidates,
    thing_candidates)

LOW = -20.0  # sigmoid ~ 2e-9


def test_thing_candidates_keeps_peaks_only():
    logits = torch.full((2, 6, 6), LOW)
    logits[0, 1, 1] = 2.0  # peak, p = 0.88
    logits[0, 1, 2] = 1.0  # neighbour of the peak: not a peak
    logits[1, 4, 4] = 0.0  # peak, p = 0.5
    logits[1, 0, 5] = -4.0  # peak with p = 0.018 < 0.05
    kernel_map = torch.arange(3 * 36, dtype=torch.float32).view(3, 6, 6)
    kernels, labels, scores = thing_candidates(
        logits, kernel_map, top_k=50, score_thr=0.05, smooth_kernel_size=1)
    assert labels.tolist() == [0, 1]
    assert scores.tolist() == pytest.approx(
        [torch.sigmoid(torch.tensor(2.)).item(), 0.5])
    assert kernels.tolist() == [
        kernel_map[:, 1, 1].tolist(), kernel_map[:, 4, 4].tolist()
    ]
    # top_k caps the count
    _, labels, _ = thing_candidates(
        logits, kernel_map, top_k=1, smooth_kernel_size=1)
    assert labels.tolist() == [0]


def test_thing_candidates_none_above_threshold():
    kernels, labels, scores = thing_candidates(
        torch.full((3, 5, 5), LOW), torch.randn(8, 5, 5))
    assert kernels.shape == (0, 8) and labels.numel() == 0


def test_stuff_candidates_regions_scores_and_average_kernels():
    logits = torch.full((3, 2, 2), LOW)
    logits[0, 0, :] = 0.0  # top row: class 0 with p = 0.5
    logits[2, 1, :] = 2.0  # bottom row: class 2
    kernel_map = torch.tensor([[[1., 3.], [5., 7.]]])
    kernels, labels, scores = stuff_candidates(logits, kernel_map, 0.05)
    assert labels.tolist() == [0, 2]
    assert scores.tolist() == pytest.approx(
        [0.5, torch.sigmoid(torch.tensor(2.)).item()])
    # region sums 4 and 12 over the map's 4 cells (the official pool)
    assert kernels.view(-1).tolist() == pytest.approx([1.0, 3.0])
    none = stuff_candidates(torch.full((3, 2, 2), LOW), kernel_map, 0.05)
    assert none[0].shape == (0, 1)


def test_maskness_rescore():
    probs = torch.tensor([[[0.9, 0.5], [0.1, 0.2]], [[0.3, 0.3], [0.3, 0.3]]])
    scores, masks = maskness_rescore(probs, torch.tensor([0.8, 0.9]), 0.4)
    assert masks[0].tolist() == [[True, True], [False, False]]
    assert scores.tolist() == pytest.approx([0.8 * 0.7, 0.0], abs=1e-5)


def test_combine_overlap_score_order_stuff_area_and_void():
    T, S = 2, 2
    h, w = 4, 6
    masks = torch.zeros(3, h, w, dtype=torch.bool)
    masks[0, :2, :3] = True  # score 0.9 -> instance 1
    masks[1, :2, 2:5] = True  # 2/6 already taken: keeps its 4 free pixels
    masks[2, :2, :2] = True  # fully covered (> 0.5): dropped
    labels = torch.tensor([1, 0, 1])
    scores = torch.tensor([0.9, 0.8, 0.7])
    stuff = torch.full((h, w), 2, dtype=torch.long)
    stuff[3, :] = 3  # 6 px of stuff 3 -> below an area limit of 7
    stuff[2, 5] = -1  # "things" pixel of the stuff map -> VOID
    pan = combine_things_and_stuff(
        masks,
        labels,
        scores,
        stuff,
        T,
        S,
        overlap_thr=0.5,
        stuff_area_limit=5)
    assert pan[0, 0].item() == 1 + 1000
    assert pan[0, 3].item() == 0 + 2000
    assert pan[1, 2].item() == 1 + 1000  # the first object keeps its pixels
    assert set(pan.unique().tolist()) == {1001, 2000, 2, 3, 4}
    assert pan[2, 5].item() == T + S
    pan = combine_things_and_stuff(
        masks, labels, scores, stuff, T, S, stuff_area_limit=7)
    assert (pan[3] == T + S).all()  # small stuff becomes VOID
    # a low score threshold filter removes things
    pan = combine_things_and_stuff(
        masks,
        labels,
        scores,
        stuff,
        T,
        S,
        stuff_area_limit=1,
        thing_score_thr=0.95)
    assert (pan < 1000).all()


def test_combine_with_nothing_is_all_void():
    pan = combine_things_and_stuff(
        torch.zeros(0, 3, 3, dtype=torch.bool),
        torch.zeros(0).long(), torch.zeros(0), torch.full((3, 3), -1), 2, 2)
    assert (pan == 4).all()


def _combine_reference(masks, labels, scores, stuff, num_things_classes,
                       num_stuff_classes, overlap_thr, area_limit, score_thr):
    """Panoptic FPN's procedure written out: whole-image masks, one thing
    at a time, then stuff on the free pixels."""
    void = num_things_classes + num_stuff_classes
    pan = torch.full(stuff.shape, void, dtype=torch.long)
    occupied = torch.zeros(stuff.shape, dtype=torch.bool)
    instance_id = 0
    for index in scores.argsort(descending=True).tolist():
        mask = masks[index]
        if scores[index] < score_thr or mask.sum() == 0:
            continue
        if (mask & occupied).sum() > overlap_thr * mask.sum():
            continue
        mask = mask & ~occupied
        instance_id += 1
        pan[mask] = labels[index] + instance_id * INSTANCE_OFFSET
        occupied |= mask
    for label in range(num_things_classes, void):
        region = (stuff == label) & ~occupied
        if region.sum() >= area_limit:
            pan[region] = label
    return pan


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_combine_equals_the_whole_image_reference(seed):
    """Random overlapping rectangles and blobs (some empty, some below the
    score threshold) and a random stuff map with "things" pixels: the
    box-cropped loop gives the reference's result exactly."""
    generator = torch.Generator().manual_seed(seed)
    height, width, num = 37, 53, 30
    masks = torch.rand(num, height, width, generator=generator) > 0.97
    for i in range(num):
        x1, y1 = torch.randint(0, width - 2, (2, ), generator=generator)
        y1 = y1 % (height - 2)
        w, h = torch.randint(1, 20, (2, ), generator=generator)
        masks[i, y1:y1 + h, x1:x1 + w] = True
    masks[3] = False  # empty
    labels = torch.randint(0, 3, (num, ), generator=generator)
    scores = torch.rand(num, generator=generator)
    stuff = torch.randint(2, 6, (height, width), generator=generator)
    stuff[stuff == 2] = -1  # the stuff map's "things" label
    result = combine_things_and_stuff(masks, labels, scores, stuff, 3, 3, 0.5,
                                      20, 0.2)
    expected = _combine_reference(masks, labels, scores, stuff, 3, 3, 0.5, 20,
                                  0.2)
    assert torch.equal(result, expected)
    assert (result >= INSTANCE_OFFSET).any()  # things were pasted
    assert len(torch.unique(result // INSTANCE_OFFSET)) > 5
