"""AUNet fusion: masks laid by score with category relations (Kirillov et
al.'s procedure) above a score cut-off and stuff from the BG branch, and
the semantic labels, on hand-made masks."""
import pytest
import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmengine.structures import InstanceData

from mmpanoptic.models.aunet.fusion import (AUNetFusionHead,
                                            aunet_panoptic_fusion,
                                            relation_matrix,
                                            resolve_instance_overlaps,
                                            semantic_labels,
                                            stuff_from_semantic)

PERSON, TIE, CAR = 0, 1, 2


def _box_mask(h, w, y0, y1, x0, x1):
    mask = torch.zeros(h, w, dtype=torch.bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_overlaps_resolved_by_score():
    masks = torch.stack(
        [_box_mask(6, 6, 0, 4, 0, 4),
         _box_mask(6, 6, 2, 6, 2, 6)])
    instance_map, labels = resolve_instance_overlaps(
        masks, torch.tensor([0.6, 0.9]), torch.tensor([CAR, PERSON]), 0.5)
    # the person (0.9) is id 1 and owns the shared 2x2 block
    assert labels.tolist() == [PERSON, CAR]
    assert (instance_map[2:6, 2:6] == 1).all()
    assert (instance_map[0:2, 0:4] == 2).all() and \
        (instance_map[2:4, 0:2] == 2).all()
    assert instance_map[4:, :2].eq(0).all()


def test_tie_is_never_covered_by_person():
    person = _box_mask(8, 8, 0, 8, 0, 8)
    tie = _box_mask(8, 8, 2, 6, 3, 5)
    masks = torch.stack([person, tie])
    scores = torch.tensor([0.95, 0.7])
    labels = torch.tensor([PERSON, TIE])
    # without relations the tie is hidden entirely and dropped
    instance_map, kept = resolve_instance_overlaps(masks, scores, labels, 0.5)
    assert kept.tolist() == [PERSON] and (instance_map == 1).all()
    relations = relation_matrix([(TIE, PERSON)], 3)
    instance_map, kept = resolve_instance_overlaps(masks, scores, labels, 0.5,
                                                   relations)
    assert kept.tolist() == [PERSON, TIE]
    assert (instance_map[tie] == 2).all()
    assert (instance_map[person & ~tie] == 1).all()
    # the relation is directed: a car is still covered by a person
    masks_car = torch.stack([person, tie])
    instance_map, kept = resolve_instance_overlaps(masks_car, scores,
                                                   torch.tensor([PERSON, CAR]),
                                                   0.5, relations)
    assert kept.tolist() == [PERSON]


def test_mostly_hidden_instance_is_dropped_and_pixels_reassigned():
    big = _box_mask(6, 6, 0, 6, 0, 6)
    small = _box_mask(6, 6, 0, 2, 0, 2)
    other = _box_mask(6, 6, 0, 1, 0, 6)
    masks = torch.stack([big, small, other])
    instance_map, kept = resolve_instance_overlaps(
        masks, torch.tensor([0.9, 0.8, 0.7]), torch.tensor([CAR, CAR, CAR]),
        0.5)
    assert kept.tolist() == [CAR]
    assert (instance_map == 1).all()
    empty_map, empty = resolve_instance_overlaps(
        torch.zeros(0, 4, 4, dtype=torch.bool), torch.zeros(0),
        torch.zeros(0, dtype=torch.long))
    assert empty.numel() == 0 and (empty_map == 0).all()


def test_stuff_from_semantic_equ_and_full():
    num_things_classes, num_stuff_classes = 3, 2
    # equ: channels [stuff0, stuff1, things]
    logits = torch.zeros(3, 1, 3)
    logits[0, 0, 0] = logits[1, 0, 1] = logits[2, 0, 2] = 1
    assert stuff_from_semantic(logits, num_things_classes, num_stuff_classes,
                               True).tolist() == [[3, 4, 5]]
    full = torch.zeros(5, 1, 3)
    full[3, 0, 0] = full[4, 0, 1] = full[1, 0, 2] = 1
    assert stuff_from_semantic(full, num_things_classes, num_stuff_classes,
                               False).tolist() == [[3, 4, 5]]


def test_panoptic_fusion_values_and_small_stuff():
    num_things_classes, num_stuff_classes = 3, 2
    logits = torch.zeros(3, 8, 8)
    logits[0] = 1  # stuff 0 (label 3) everywhere ...
    logits[1, 0, :3] = 2  # ... except 3 px of stuff 1: below the limit
    masks = _box_mask(8, 8, 4, 8, 4, 8)[None]
    pan = aunet_panoptic_fusion(
        masks,
        torch.tensor([0.9]),
        torch.tensor([TIE]),
        logits,
        num_things_classes,
        num_stuff_classes,
        True,
        0.5,
        stuff_area_limit=4)
    assert (pan[4:, 4:] == TIE + INSTANCE_OFFSET).all()
    assert (pan[0, :3] == num_things_classes + num_stuff_classes).all()  # VOID
    assert (pan[1:4] == 3).all()


def test_fusion_head_predict_and_relations_validation():
    head = AUNetFusionHead(
        num_things_classes=3,
        num_stuff_classes=2,
        test_cfg=dict(
            mask_overlap=0.5,
            stuff_area_limit=0,
            category_relations=[(TIE, PERSON)]))
    instances = InstanceData(
        masks=torch.stack(
            [_box_mask(8, 8, 0, 8, 0, 8),
             _box_mask(8, 8, 2, 6, 3, 5)]),
        scores=torch.tensor([0.95, 0.7]),
        labels=torch.tensor([PERSON, TIE]),
        bboxes=torch.zeros(2, 4))
    pan = head.predict([instances], [torch.zeros(3, 8, 8)])[0].sem_seg
    assert pan.shape == (1, 8, 8) and pan.dtype == torch.int32
    assert set(pan.unique().tolist()) == {
        PERSON + INSTANCE_OFFSET, TIE + 2 * INSTANCE_OFFSET
    }
    with pytest.raises(ValueError, match='outside'):
        relation_matrix([(5, 0)], 3)


def test_dropped_instance_hides_nothing():
    """A (0.9) hides 60 % of B, B 60 % of C, A 20 % of C: B is dropped, so
    C is laid (Kirillov et al.'s sequential procedure)."""
    a = _box_mask(1, 10, 0, 1, 0, 3)
    b = _box_mask(1, 10, 0, 1, 0, 5)  # 3 of 5 under A
    c = _box_mask(1, 10, 0, 1, 2, 7)  # 1 of 5 under A, 3 of 5 under B
    masks = torch.stack([a, b, c])
    instance_map, kept = resolve_instance_overlaps(
        masks, torch.tensor([0.9, 0.8, 0.7]), torch.tensor([CAR, CAR, CAR]),
        0.5)
    assert kept.tolist() == [CAR, CAR]
    assert instance_map.tolist() == [[1, 1, 1, 2, 2, 2, 2, 0, 0, 0]]


def test_stuff_area_counts_only_pixels_things_left():
    num_things_classes, num_stuff_classes = 3, 2
    logits = torch.zeros(3, 4, 4)
    logits[0] = 1  # stuff 0 (label 3) everywhere: 16 px
    masks = _box_mask(4, 4, 0, 4, 0, 3)[None]  # a thing takes 12 of them
    pan = aunet_panoptic_fusion(
        masks,
        torch.tensor([0.9]),
        torch.tensor([CAR]),
        logits,
        num_things_classes,
        num_stuff_classes,
        True,
        0.5,
        stuff_area_limit=5)
    assert (pan[:, :3] == CAR + INSTANCE_OFFSET).all()
    assert (pan[:, 3] == num_things_classes + num_stuff_classes).all()


def _lay_masks_with_relations(masks, scores, labels, overlap_thr, relations):
    """Pixel loops over the sequential rule with category relations."""
    order = sorted(range(len(scores)), key=lambda k: -float(scores[k]))
    height, width = masks.shape[1:]
    owner = [[None] * width for _ in range(height)]
    laid = []
    for k in order:
        mask = masks[k]
        area = int(mask.sum())
        if area == 0:
            continue
        taken = [(y, x) for y in range(height) for x in range(width)
                 if mask[y, x] and owner[y][x] is not None
                 and not relations[labels[k], labels[owner[y][x]]]]
        if len(taken) > overlap_thr * area:
            continue
        for y in range(height):
            for x in range(width):
                if mask[y, x] and (y, x) not in taken:
                    owner[y][x] = k
        laid.append(k)
    owners = [k for k in laid if any(k in row for row in owner)]
    ids = {k: i + 1 for i, k in enumerate(owners)}
    instance_map = torch.tensor([[0 if k is None else ids[k] for k in row]
                                 for row in owner])
    return instance_map, [int(labels[k]) for k in owners]


def _random_instances(seed, num_classes, num=8, size=9):
    gen = torch.Generator().manual_seed(seed)
    masks = torch.zeros(num, size, size, dtype=torch.bool)
    for k in range(num):
        y0, x0 = torch.randint(0, size - 2, (2, ), generator=gen).tolist()
        h, w = torch.randint(2, size, (2, ), generator=gen).tolist()
        masks[k, y0:y0 + h, x0:x0 + w] = True
    scores = torch.rand(num, generator=gen)
    labels = torch.randint(0, num_classes, (num, ), generator=gen)
    return masks, scores, labels


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize(
    'num_classes, pairs',
    [
        (3, [(TIE, PERSON), (CAR, TIE)]),  # every instance in a relation
        (6, [(TIE, PERSON), (CAR, TIE)]),  # classes 3-5 in none
        (6, []),  # no relations: score order only
    ])
def test_overlaps_match_brute_force(seed, num_classes, pairs):
    masks, scores, labels = _random_instances(seed, num_classes)
    relations = relation_matrix(pairs, num_classes)
    instance_map, kept = resolve_instance_overlaps(masks, scores, labels, 0.6,
                                                   relations)
    expected_map, expected_labels = _lay_masks_with_relations(
        masks, scores, labels, 0.6, relations)
    assert kept.tolist() == expected_labels
    assert torch.equal(instance_map, expected_map)


@pytest.mark.parametrize('seed', range(4))
def test_without_relations_equals_mmdet_heuristic_fusion(seed):
    """mmdet's ``HeuristicFusionHead._lay_masks`` is the reference of the
    procedure AUNet cites."""
    from mmdet.models.seg_heads.panoptic_fusion_heads import \
        HeuristicFusionHead
    masks, scores, labels = _random_instances(seed, 3)
    reference = HeuristicFusionHead(num_things_classes=3, num_stuff_classes=2)
    expected_map, expected_labels = reference._lay_masks(
        InstanceData(
            bboxes=torch.zeros(len(scores), 4),
            scores=scores,
            labels=labels,
            masks=masks),
        overlap_thr=0.6)
    instance_map, kept = resolve_instance_overlaps(masks, scores, labels, 0.6)
    assert kept.tolist() == expected_labels.tolist()
    assert torch.equal(instance_map, expected_map)


def test_instances_below_the_cut_off_are_not_laid():
    """The FG branch keeps Mask R-CNN's detections down to score 0.05 (for
    AP); the fusion lays only those at or above its ``score_thr``."""
    num_things_classes, num_stuff_classes = 3, 2
    logits = torch.zeros(3, 6, 6)
    logits[0] = 1  # stuff 0 (label 3) everywhere
    masks = torch.stack(
        [_box_mask(6, 6, 0, 3, 0, 3),
         _box_mask(6, 6, 3, 6, 3, 6)])
    scores = torch.tensor([0.5, 0.3])
    pan = aunet_panoptic_fusion(
        masks,
        scores,
        torch.tensor([CAR, PERSON]),
        logits,
        num_things_classes,
        num_stuff_classes,
        stuff_area_limit=0,
        score_thr=0.5)
    assert (pan[:3, :3] == CAR + INSTANCE_OFFSET).all()
    assert (pan[3:, 3:] == 3).all()  # the 0.3 person is not laid
    head = AUNetFusionHead(
        num_things_classes=3,
        num_stuff_classes=2,
        test_cfg=dict(score_thr=0.2, stuff_area_limit=0))
    instances = InstanceData(
        masks=masks, scores=scores, labels=torch.tensor([CAR, PERSON]))
    pan = head.predict([instances], [logits])[0].sem_seg[0]
    assert (pan[3:, 3:] == PERSON + 2 * INSTANCE_OFFSET).all()


def test_semantic_labels_in_dataset_classes():
    num_things_classes, num_stuff_classes = 3, 2
    # equ logits [stuff 0, stuff 1, things] on 1 x 4 pixels
    logits = torch.tensor([[[3., 0., 1., 0.]], [[1., 2., 2., 1.]],
                           [[0., 5., 4., 9.]]])
    # the fusion laid a car on pixels 1 and 2 (and covers stuff at 0)
    panoptic = torch.tensor([[CAR + INSTANCE_OFFSET, CAR + INSTANCE_OFFSET,
                              CAR + INSTANCE_OFFSET, 5]])
    labels = semantic_labels(logits, panoptic, num_things_classes,
                             num_stuff_classes, True)
    # pixel 0: BG says stuff 0 -> 3; 1, 2: BG says thing, the car is
    # there -> 2; 3: BG says thing, no thing laid -> best stuff (4)
    assert labels.tolist() == [[3, CAR, CAR, 4]]
    full = torch.zeros(5, 1, 3)
    full[3, 0, 0] = full[1, 0, 1] = full[4, 0, 2] = 1
    assert semantic_labels(full, panoptic[:, :3], num_things_classes,
                           num_stuff_classes, False).tolist() == [[3, 1, 4]]
    head = AUNetFusionHead(
        num_things_classes=3,
        num_stuff_classes=2,
        test_cfg=dict(score_thr=0.5, stuff_area_limit=0))
    instances = InstanceData(
        masks=_box_mask(1, 4, 0, 1, 1, 3)[None],
        scores=torch.tensor([0.9]),
        labels=torch.tensor([CAR]))
    result = head.predict([instances], [logits])[0]
    assert result.semantic_labels.tolist() == [[[3, CAR, CAR, 4]]]
