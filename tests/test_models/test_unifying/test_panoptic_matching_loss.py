import math

import pytest
import torch
import torch.nn.functional as F

from mmpanoptic.models.unifying.panoptic_matching import (
    PanopticMatchingLoss, majority_downsample_targets,
    match_segments_to_detections, panoptic_matching_targets)

NUM_THINGS, NUM_STUFF = 2, 2


def test_matching_by_iou_within_class_keeps_best_duplicate():
    gt_boxes = torch.tensor([[0., 0., 10., 10.], [20., 0., 30., 10.],
                             [40., 0., 50., 10.]])
    gt_labels = torch.tensor([0, 1, 0])
    det_boxes = torch.tensor([
        [0., 0., 10., 9.],  # IoU 0.9 with GT 0
        [0., 0., 10., 8.],  # IoU 0.8 with GT 0: duplicate, removed
        [20., 0., 30., 10.],  # perfect box of GT 1 but class 0: no match
        [40., 0., 50., 4.],  # IoU 0.4 with GT 2: below t, a false positive
        [20., 0., 30., 7.],  # IoU 0.7 with GT 1, class 1
    ])
    det_labels = torch.tensor([0, 0, 0, 0, 1])
    matched, keep = match_segments_to_detections(
        gt_boxes, gt_labels, det_boxes, det_labels, iou_thr=0.5)
    assert matched.tolist() == [0, 4, -1]
    assert keep.tolist() == [True, False, True, True, True]


def test_matching_maximises_total_iou():
    # greedy (best pair first) would match det 0 to GT 0 (IoU 0.9) and leave
    # det 1 / GT 1 below t (0.43); eq. (5) maximises the sum of valid IoUs:
    # det 0 -> GT 1 (0.67) and det 1 -> GT 0 (0.71)
    gt_boxes = torch.tensor([[0., 0., 10., 10.], [0., 0., 6., 10.]])
    det_boxes = torch.tensor([[0., 0., 9., 10.], [0., 0., 14., 10.]])
    labels = torch.zeros(2, dtype=torch.long)
    matched, keep = match_segments_to_detections(gt_boxes, labels, det_boxes,
                                                 labels)
    assert matched.tolist() == [1, 0]
    assert keep.all()


def test_matching_with_nothing_to_match():
    matched, keep = match_segments_to_detections(
        torch.zeros(0, 4), torch.zeros(0, dtype=torch.long),
        torch.tensor([[0., 0., 4., 4.]]), torch.tensor([1]))
    assert matched.shape == (0, ) and keep.tolist() == [True]
    matched, keep = match_segments_to_detections(
        torch.tensor([[0., 0., 4., 4.]]), torch.tensor([1]), torch.zeros(0, 4),
        torch.zeros(0, dtype=torch.long))
    assert matched.tolist() == [-1] and keep.shape == (0, )


def _scene():
    """8 x 12 map: stuff 2 left, stuff 3 right, two things, a VOID row."""
    semantic = torch.full((8, 12), 2)
    semantic[:, 6:] = 3
    semantic[7] = 255
    masks = torch.zeros(3, 8, 12, dtype=torch.bool)
    masks[0, 1:4, 1:4] = True  # thing class 0, matched
    masks[1, 1:5, 7:11] = True  # thing class 1, matched
    masks[2, 5:7, 2:5] = True  # thing class 0, no detection: ignored
    labels = torch.tensor([0, 1, 0])
    boxes = torch.tensor([[1., 1., 4., 4.], [7., 1., 11., 5.],
                          [2., 5., 5., 7.]])
    for mask, label in zip(masks, labels):
        semantic[mask] = label
    det_boxes = torch.tensor([[7., 1., 11., 5.], [1., 1., 4., 4.2],
                              [1., 1., 4., 3.]])
    det_labels = torch.tensor([1, 0, 0])
    return masks, boxes, labels, semantic, det_boxes, det_labels


def test_targets_index_kept_detections_then_stuff():
    masks, boxes, labels, semantic, det_boxes, det_labels = _scene()
    keep, targets = panoptic_matching_targets(masks, boxes, labels, semantic,
                                              det_boxes, det_labels,
                                              NUM_THINGS, NUM_STUFF)
    # det 2 duplicates GT 0 with a lower IoU than det 1: removed
    assert keep.tolist() == [True, True, False]
    expected = torch.full((8, 12), 2 + 0)  # stuff 2 -> channel 2 (2 kept)
    expected[:, 6:] = 2 + 1
    expected[7] = 255
    expected[1:4, 1:4] = 1  # GT 0 -> det 1
    expected[1:5, 7:11] = 0  # GT 1 -> det 0
    expected[5:7, 2:5] = 255  # unmatched GT: ignored
    assert torch.equal(targets, expected)


def _loss_of(logits, masks, boxes, labels, semantic, det_boxes, det_labels):
    loss_module = PanopticMatchingLoss(loss_weight=1.0, input_type='logits')
    keep, targets = loss_module.match(masks, boxes, labels, semantic,
                                      det_boxes, det_labels, NUM_THINGS,
                                      NUM_STUFF)
    kept = torch.cat([logits[:3][keep], logits[3:]])
    return loss_module([kept], [targets]), targets


def test_loss_is_invariant_to_gt_order():
    masks, boxes, labels, semantic, det_boxes, det_labels = _scene()
    logits = torch.randn(3 + NUM_STUFF, 8, 12, dtype=torch.float64)
    loss, _ = _loss_of(logits, masks, boxes, labels, semantic, det_boxes,
                       det_labels)
    for order in ([2, 0, 1], [1, 2, 0], [2, 1, 0]):
        permuted, _ = _loss_of(logits, masks[order], boxes[order],
                               labels[order], semantic, det_boxes, det_labels)
        torch.testing.assert_close(permuted, loss)


def test_loss_equals_cross_entropy_and_ignores_unmatched_segments():
    masks, boxes, labels, semantic, det_boxes, det_labels = _scene()
    logits = torch.randn(
        3 + NUM_STUFF, 8, 12, dtype=torch.float64, requires_grad=True)
    loss, targets = _loss_of(logits, masks, boxes, labels, semantic, det_boxes,
                             det_labels)
    kept = torch.cat([logits[:2], logits[3:]])
    valid = targets != 255
    expected = F.cross_entropy(
        kept.permute(1, 2, 0)[valid], targets[valid], reduction='mean')
    torch.testing.assert_close(loss, expected)
    loss.backward()
    # no gradient on the unmatched GT segment, the VOID row, or the
    # removed duplicate's channel
    assert logits.grad[:, 5:7, 2:5].abs().sum() == 0
    assert logits.grad[:, 7].abs().sum() == 0
    assert logits.grad[2].abs().sum() == 0
    assert logits.grad[:, :2].abs().sum() > 0


def test_loss_over_a_batch_and_when_everything_is_ignored():
    loss_module = PanopticMatchingLoss(loss_weight=0.5, input_type='logits')
    logits = [torch.randn(3, 4, 4, requires_grad=True), torch.randn(2, 4, 4)]
    targets = [torch.randint(0, 3, (4, 4)), torch.randint(0, 2, (4, 4))]
    targets[1][0] = 255
    expected = F.cross_entropy(
        torch.cat([
            logits[0].permute(1, 2, 0).reshape(-1, 3),
            F.pad(
                logits[1].permute(1, 2, 0).reshape(-1, 2), (0, 1), value=-1e9)
        ]),
        torch.cat([targets[0].flatten(), targets[1].flatten()]),
        ignore_index=255)
    torch.testing.assert_close(loss_module(logits, targets), 0.5 * expected)
    ignored = loss_module([logits[0]], [torch.full((4, 4), 255)])
    assert ignored.item() == 0 and ignored.requires_grad
    with pytest.raises(ValueError, match='differ in size'):
        loss_module([logits[0]], [targets[0][:3]])
    with pytest.raises(ValueError, match='iou_thr'):
        PanopticMatchingLoss(iou_thr=0)
    with pytest.raises(ValueError, match='input_type'):
        PanopticMatchingLoss(input_type='softmax')


def test_loss_on_probabilities_normalises_over_channels():
    """Default input_type: -log(P_t / sum_k P_k), by hand."""
    loss_module = PanopticMatchingLoss(eps=1e-12)
    # two pixels, three channels: P = (0.6, 0.2, 0.2) and (0, 1.5, 0.5)
    output = torch.tensor([[[0.6, 0.0]], [[0.2, 1.5]], [[0.2, 0.5]]],
                          dtype=torch.float64,
                          requires_grad=True)
    target = torch.tensor([[0, 1]])
    loss = loss_module([output], [target])
    expected = -(math.log(0.6 / 1.0) + math.log(1.5 / 2.0)) / 2
    assert loss.item() == pytest.approx(expected)
    loss.backward()
    # d/dP_j of -log(P_t / S) = 1/S - [j == t]/P_t, halved by the mean
    expected_grad = torch.tensor([[[(1 - 1 / 0.6) / 2, 1 / 4]],
                                  [[1 / 2,
                                    (1 / 2 - 1 / 1.5) / 2]], [[1 / 2, 1 / 4]]],
                                 dtype=torch.float64)
    torch.testing.assert_close(output.grad, expected_grad)
    # a one-hot P costs nothing, unlike a softmax over the same values
    one_hot = torch.tensor([[[1.0]], [[0.0]], [[0.0]]])
    assert loss_module([one_hot], [torch.tensor([[0]])]).item() == 0
    softmax_loss = PanopticMatchingLoss(input_type='logits')(
        [one_hot], [torch.tensor([[0]])])
    assert softmax_loss.item() == pytest.approx(-math.log(math.e /
                                                          (math.e + 2)))
    # a pixel where every channel is 0 stays finite with eps > 0
    zeros = torch.zeros(3, 1, 1, requires_grad=True)
    loss = PanopticMatchingLoss()([zeros], [torch.tensor([[2]])])
    assert loss.item() == pytest.approx(math.log(3))
    loss.backward()
    assert torch.isfinite(zeros.grad).all()


def test_targets_downsampled_by_cell_majority():
    ignore = 255
    targets = torch.full((8, 12), 1)
    targets[:4, :4] = 0  # cell (0, 0): all 0
    targets[:4, 4:7] = 2  # cell (0, 1): 12 of 16 are 2
    targets[4:, :2] = 0  # cell (1, 0): 8 x 0 against 8 x 1: a tie
    targets[4:, 4:8] = ignore  # cell (1, 1): all ignored
    targets[:4, 8:10] = ignore  # cell (0, 2): 8 ignored, 8 x 1: a tie
    result = majority_downsample_targets(targets, 4, (2, 3), 3, ignore)
    assert result.tolist() == [[0, 2, 1], [0, ignore, 1]]
    # a larger grid: the padding is ignored; a smaller one crops
    padded = majority_downsample_targets(targets, 4, (3, 4), 3, ignore)
    assert padded[:2, :3].tolist() == result.tolist()
    assert (padded[2] == ignore).all() and (padded[:, 3] == ignore).all()
    cropped = majority_downsample_targets(targets, 4, (1, 2), 3, ignore)
    assert cropped.tolist() == [[0, 2]]
    with pytest.raises(ValueError, match='channels in'):
        majority_downsample_targets(targets, 4, (2, 3), 2, ignore)


def test_downsampled_targets_are_centred_on_their_cells():
    """A 6-pixel square at pixels 5..10 (centre 8.0, a cell edge) covers 3
    of 4 rows and columns of cells 1 and 2: all four cells take it, centred
    on 8.0 (cell centres are at 4k + 2). The same square one pixel on, at
    6..11 (centre 9.0), holds the majority of cell (2, 2) only (ties go to
    channel 0). Sampling pixel 4k + 2 of each cell (pixels 6 and 10) sees
    both squares as the first result."""
    targets = torch.zeros(16, 16, dtype=torch.long)
    targets[5:11, 5:11] = 1
    expected = torch.zeros(4, 4, dtype=torch.long)
    expected[1:3, 1:3] = 1
    assert torch.equal(
        majority_downsample_targets(targets, 4, (4, 4), 2), expected)
    assert torch.equal(targets[2::4, 2::4], expected)
    shifted = torch.zeros(16, 16, dtype=torch.long)
    shifted[6:12, 6:12] = 1
    downsampled = majority_downsample_targets(shifted, 4, (4, 4), 2)
    assert downsampled[1:3, 1:3].tolist() == \
        [[0, 0], [0, 1]]
    assert torch.equal(shifted[2::4, 2::4], expected)
