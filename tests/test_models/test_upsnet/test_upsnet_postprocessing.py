import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET

from mmpanoptic.models.upsnet.class_assignment import (
    assign_instance_classes, compose_panoptic_map)
from mmpanoptic.models.upsnet.heuristic_combination import \
    heuristic_combination
from mmpanoptic.models.upsnet.mask_pruning import prune_masks
from mmpanoptic.models.upsnet.panoptic_logits import (box_pixels,
                                                      sample_mask_logits)


def _pasted(boxes, height, width, masks=None):
    boxes = torch.tensor(boxes, dtype=torch.float32)
    if masks is None:  # positive logits: the binary mask is the box
        masks = torch.ones(len(boxes), 28, 28)
    pixels = box_pixels(boxes, height, width)
    return pixels, sample_mask_logits(masks, boxes, pixels)


def test_prune_masks_same_class_union_of_kept():
    # 2 x 10 image, boxes as columns; instances in decreasing score order
    boxes = [
        [0, 0, 6, 2],  # A, class 0: kept
        [4, 0, 10, 2],  # B, class 0: 2 of 6 columns on A = 33 % > 30 %
        [0, 0, 10, 2],  # C, class 1: other class, kept
        [6, 0, 10, 2],  # D, class 0: only overlaps the dropped B: kept
        [3, 0, 10, 2],  # E, class 0: 3 of 7 columns on A = 43 %: dropped
        [5, 0, 10, 2],  # F, class 0: on A 1 col, on D 4 col -> dropped
    ]
    labels = torch.tensor([0, 0, 1, 0, 0, 0])
    pixels, values = _pasted(boxes, 2, 10)
    keep = prune_masks(pixels, values, labels, 2, 10, overlap_thr=0.3)
    assert keep.tolist() == [True, False, True, True, False, False]
    # just below the threshold: 2 of 7 columns = 28.6 %
    pixels, values = _pasted([[0, 0, 5, 2], [3, 0, 10, 2]], 2, 10)
    keep = prune_masks(pixels, values, torch.tensor([2, 2]), 2, 10)
    assert keep.tolist() == [True, True]
    # class-agnostic canvas: C now overlaps A entirely
    pixels, values = _pasted(boxes[:3], 2, 10)
    keep = prune_masks(pixels, values, labels[:3], 2, 10,
                       class_agnostic=True)
    assert keep.tolist() == [True, False, False]


def test_prune_masks_uses_binarised_mask_not_box():
    # B's box overlaps A fully, but its mask logits are negative on the
    # left half of its box: its mask lies right of A
    masks = torch.ones(2, 28, 28)
    masks[1, :, :14] = -1
    pixels, values = _pasted([[0, 0, 4, 2], [0, 0, 8, 2]], 2, 8, masks)
    keep = prune_masks(pixels, values, torch.tensor([0, 0]), 2, 8)
    assert keep.tolist() == [True, True]
    # an empty mask is kept and nothing is drawn
    masks[1] = -1
    pixels, values = _pasted([[0, 0, 4, 2], [0, 0, 8, 2]], 2, 8, masks)
    keep = prune_masks(pixels, values, torch.tensor([0, 0]), 2, 8)
    assert keep.tolist() == [True, True]


def test_assign_instance_classes():
    # T = 2 things (0, 1), S = 2 stuff (2, 3); channels: 0-1 stuff,
    # 2-4 instances, 5 unknown
    channel_map = torch.tensor([[2, 2, 2, 2, 0, 5],
                                [3, 3, 3, 3, 1, 5],
                                [4, 4, 4, 4, 1, 5]])
    semantic = torch.tensor([[3, 3, 3, 0, 2, 2],   # inst 0: 75 % stuff 3
                             [2, 2, 1, 0, 3, 3],   # inst 1: 50 % stuff 2
                             [2, 1, 1, 0, 0, 0]])  # inst 2: mode thing 1
    labels = torch.tensor([0, 1, 0])
    classes = assign_instance_classes(channel_map, semantic, labels, 2, 2)
    assert classes.tolist() == [3, 2, 0]
    # a stricter majority keeps instance 1
    classes = assign_instance_classes(
        channel_map, semantic, labels, 2, 2, stuff_majority=0.6)
    assert classes.tolist() == [3, 1, 0]
    # consistent class: kept
    semantic_same = torch.where(channel_map == 3, 1, semantic)
    classes = assign_instance_classes(channel_map, semantic_same, labels, 2,
                                      2)
    assert classes.tolist() == [3, 1, 0]


def test_compose_panoptic_map_ids_void_and_stuff_trimming():
    # T = 2, S = 2, VOID = 4; channels: 0-1 stuff, 2-4 instances, 5 unknown
    channel_map = torch.tensor([[0, 0, 0, 1, 5],
                                [2, 2, 4, 1, 5],
                                [0, 0, 0, 0, 0]])
    # instance 0 -> thing 1, instance 1 has no pixel, instance 2 -> stuff 3
    classes = torch.tensor([1, 0, 3])
    pan = compose_panoptic_map(channel_map, classes, 2, 2,
                               stuff_area_limit=3)
    void = 4
    expected = torch.tensor([
        [2, 2, 2, 3, void],
        [1 + INSTANCE_OFFSET, 1 + INSTANCE_OFFSET, 3, 3, void],
        [2, 2, 2, 2, 2],
    ])
    assert torch.equal(pan, expected)
    # stuff 3 has 3 pixels (2 own + 1 from instance 2): below 4 -> VOID
    pan = compose_panoptic_map(channel_map, classes, 2, 2,
                               stuff_area_limit=4)
    assert (pan == void).sum() == 2 + 3
    assert (pan == 3).sum() == 0


def test_compose_panoptic_map_many_instances():
    # 300 instances: ids up to 300, no 255 limit
    channel_map = torch.arange(300).reshape(15, 20) + 1  # S = 1
    classes = torch.zeros(300, dtype=torch.long)
    pan = compose_panoptic_map(channel_map, classes, 1, 1,
                               stuff_area_limit=0)
    ids = pan // INSTANCE_OFFSET
    assert torch.equal(ids.flatten(), torch.arange(1, 301))
    assert (pan % INSTANCE_OFFSET == 0).all()


def test_zero_instances_and_zero_stuff_give_valid_maps():
    empty = compose_panoptic_map(torch.full((3, 3), 2), torch.zeros(0), 1, 2)
    assert (empty == 3).all()  # everything unknown -> VOID
    pan = compose_panoptic_map(torch.full((3, 3), 1), torch.tensor([0]), 1,
                               1, stuff_area_limit=0)  # one instance, S = 1
    assert (pan == INSTANCE_OFFSET).all()


def test_heuristic_combination():
    # T = 1, S = 1 (VOID = 2); semantic: stuff on the left, thing right
    semantic = torch.zeros(2, 2, 8)
    semantic[1, :, :4] = 1
    semantic[0, :, 4:] = 1
    pixels, values = _pasted([[5, 0, 8, 2], [4, 0, 7, 2], [0, 0, 1, 2]], 2,
                             8)
    pan = heuristic_combination(semantic.argmax(0), torch.tensor([0, 0, 0]),
                                pixels, values, 1, 1, overlap_thr=0.5,
                                stuff_area_limit=0)
    # second mask: 2 of 3 columns on the first -> skipped; third: over
    # stuff, laid (id 2); semantic "thing" pixel 4 without mask -> VOID
    expected = torch.tensor([[1000 * 2, 1, 1, 1, 2, 1000, 1000, 1000]] * 2)
    assert torch.equal(pan, expected)
