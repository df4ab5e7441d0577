import numpy as np
import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmengine.structures import InstanceData

from mmpanoptic.models.upsnet.class_assignment import (assign_instance_classes,
                                                       compose_panoptic_map)
from mmpanoptic.models.upsnet.heuristic_combination import \
    heuristic_combination
from mmpanoptic.models.upsnet.mask_pruning import prune_masks
from mmpanoptic.models.upsnet.panoptic_head import UPSNetPanopticHead
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
    # an empty mask is dropped (official MaskRemoval), also one whose
    # positive logits lie outside the image
    masks[1] = -1
    pixels, values = _pasted([[0, 0, 4, 2], [0, 0, 8, 2]], 2, 8, masks)
    keep = prune_masks(pixels, values, torch.tensor([0, 0]), 2, 8)
    assert keep.tolist() == [True, False]
    masks = torch.ones(2, 28, 28)
    masks[1, :, :14] = -1
    pixels, values = _pasted([[0, 0, 4, 2], [4, 0, 12, 2]], 2, 8, masks)
    keep = prune_masks(pixels, values, torch.tensor([0, 1]), 2, 8)
    assert keep.tolist() == [True, False]


def official_mask_removal_keep(masks, cls_idx, cls_prob,
                               fraction_threshold=0.3):
    """The selection of ``MaskRemoval.forward`` of uber-research/UPSNet,
    ``upsnet/operators/modules/mask_removal.py`` lines 48-87, transcribed
    for binary masks already pasted into the image (``masks`` (N, H, W);
    the official code resizes each 28 x 28 logit map into its box and
    crops it to the image, lines 63-79; the mask energy is left out).
    ``cls_idx`` are the official 1-based classes."""
    mask_image = np.zeros((np.max(cls_idx), ) + masks.shape[1:],
                          dtype=np.uint8)
    sorted_inds = np.argsort(cls_prob)[::-1]
    masks = masks[sorted_inds]
    cls_idx = cls_idx[sorted_inds] - 1
    keep_inds = []
    for i in range(sorted_inds.shape[0]):
        crop_mask = masks[i]
        mask_sum = crop_mask.sum()
        mask_image_crop = mask_image[cls_idx[i]]
        if mask_sum == 0 or (np.logical_and(
                mask_image_crop >= 1, crop_mask == 1).sum() / mask_sum
                             > fraction_threshold):
            continue
        keep_inds.append(sorted_inds[i])
        mask_image[cls_idx[i]] += crop_mask
    return keep_inds


def _random_detections(gen, height, width, num_range, max_size,
                       num_classes):
    """Random boxes (some leaving the image), mask logits, classes and
    scores, sorted by decreasing score."""
    num = int(torch.randint(*num_range, (), generator=gen))
    xy = torch.rand(num, 2, generator=gen) * torch.tensor([width, height])
    wh = torch.rand(num, 2, generator=gen) * max_size + 2
    boxes = torch.cat([xy - wh / 2, xy + wh / 2], dim=1)
    logits = torch.randn(num, 28, 28, generator=gen) + 0.5
    labels = torch.randint(0, num_classes, (num, ), generator=gen)
    scores = torch.rand(num, generator=gen)
    order = torch.argsort(scores, descending=True)
    return boxes[order], logits[order], labels[order], scores[order]


def _binary_masks(boxes, logits, height, width):
    """The (N, H, W) uint8 masks (pasted logits > 0) and the pasted values
    at the box pixels."""
    pixels = box_pixels(boxes, height, width)
    values = sample_mask_logits(logits, boxes, pixels)
    binary = np.zeros((len(boxes), height * width), dtype=np.uint8)
    on = (values > 0).numpy()
    binary[pixels.instance.numpy()[on],
           pixels.flat_index(width).numpy()[on]] = 1
    return binary.reshape(len(boxes), height, width), pixels, values


def test_prune_masks_equals_official_mask_removal():
    """Random boxes, mask logits (some all negative: empty masks) and
    classes; the kept instances equal the official selection."""
    gen = torch.Generator().manual_seed(0)
    height, width = 24, 30
    for trial in range(30):
        boxes, logits, labels, scores = _random_detections(
            gen, height, width, num_range=(1, 12), max_size=16, num_classes=3)
        logits[torch.rand(len(boxes), generator=gen) < 0.2] = -1  # empty
        binary, pixels, values = _binary_masks(boxes, logits, height, width)
        keep = prune_masks(pixels, values, labels, height, width)
        expected = official_mask_removal_keep(binary, labels.numpy() + 1,
                                              scores.numpy())
        assert sorted(expected) == torch.nonzero(keep)[:, 0].tolist(), trial


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


def official_combine(sem, scores, cls_idxs, masks, num_seg_classes,
                     num_classes, score_threshold=0.6,
                     fraction_threshold=0.7, stuff_area_limit=4 * 64 * 64):
    """Transcription of ``BaseDataset._merge_pred_single_core`` of
    uber-research/UPSNet, ``upsnet/dataset/base_dataset.py`` lines
    411-447 (UPSNet-C / -CP), for one image: ``masks`` already decoded
    (N, H, W) binary, sorted by decreasing score; labels official (stuff
    first, 1-based thing classes). Returns ``pan_2ch`` channels 0 and 1."""
    id_last_stuff = num_seg_classes - num_classes
    sem = sem.copy()
    h, w = sem.shape
    ins_mask = np.zeros((h, w), dtype=np.uint8)
    ins_sem = np.zeros((h, w), dtype=np.uint8)
    idx_ins_array = np.zeros(num_classes - 1, dtype=np.uint32)
    for idx_inner in range(len(scores)):
        score, cls_idx, mask = scores[idx_inner], cls_idxs[
            idx_inner], masks[idx_inner]
        if score < score_threshold:
            continue
        ins_remain = (mask == 1) & (ins_mask == 0)
        if (mask.astype(np.float32).sum() == 0) or (
                ins_remain.astype(np.float32).sum() /
                mask.astype(np.float32).sum() < fraction_threshold):
            continue
        idx_ins_array[cls_idx - 1] += 1
        ins_mask[ins_remain] = idx_ins_array[cls_idx - 1]
        ins_sem[ins_remain] = cls_idx

    idx_sem = np.unique(sem)
    for i in range(idx_sem.shape[0]):
        if idx_sem[i] <= id_last_stuff:
            area = sem == idx_sem[i]
            if (area).sum() < stuff_area_limit:
                sem[area] = 255

    pan_2ch_c0 = sem.copy()
    pan_2ch_c1 = ins_mask.copy()
    conflict = (sem > id_last_stuff) & (ins_mask == 0)
    pan_2ch_c0[conflict] = 255
    insistence = (ins_mask != 0)
    pan_2ch_c0[insistence] = ins_sem[insistence] + id_last_stuff
    return pan_2ch_c0, pan_2ch_c1


def _as_official_2ch(pan, num_things, num_stuff):
    """Our panoptic map in the official two channels: class (stuff first,
    255 VOID) and the instance's rank within its class."""
    labels = pan % INSTANCE_OFFSET
    ids = pan // INSTANCE_OFFSET
    c0 = torch.where(labels < num_things, labels + num_stuff,
                     labels - num_things)
    c0 = torch.where(labels == num_things + num_stuff, 255, c0)
    c1 = torch.zeros_like(ids)
    for label in labels[ids > 0].unique():
        class_ids = ids[(labels == label) & (ids > 0)].unique()  # sorted
        for rank, instance_id in enumerate(class_ids.tolist(), 1):
            c1[(labels == label) & (ids == instance_id)] = rank
    return c0.numpy(), c1.numpy()


def test_heuristic_fusion_equals_official_combination():
    """UPSNet-C / -CP: the panoptic head with ``fusion='heuristic'`` on
    random standard detections (scores around the 0.6 cut, overlapping
    masks) against the official combination, with stuff area limits that
    keep some stuff classes and drop others (each stuff class covers about
    87 of the 520 pixels): a stuff class is trimmed by its area before
    things are drawn over it."""
    num_things, num_stuff = 3, 3
    gen = torch.Generator().manual_seed(1)
    height, width = 20, 26
    for trial in range(40):
        stuff_area_limit = (0, 60, 87, 100)[trial % 4]
        head = UPSNetPanopticHead(
            num_things, num_stuff,
            test_cfg=dict(fusion='heuristic',
                          stuff_area_limit=stuff_area_limit))
        boxes, logits, labels, scores = _random_detections(
            gen, height, width, num_range=(0, 10), max_size=14,
            num_classes=num_things)
        seg_logits = torch.randn(num_things + num_stuff, height, width,
                                 generator=gen)
        detections = InstanceData(bboxes=boxes, labels=labels,
                                  scores=scores, mask_logits=logits)
        pan = head.predict([detections], [seg_logits])[0].sem_seg[0]

        binary, _, _ = _binary_masks(boxes, logits, height, width)
        semantic = seg_logits.argmax(0)
        official_sem = torch.where(semantic < num_things,
                                   semantic + num_stuff,
                                   semantic - num_things).numpy()
        expected_c0, expected_c1 = official_combine(
            official_sem.astype(np.uint8), scores.numpy(),
            labels.numpy() + 1, binary, num_things + num_stuff,
            num_things + 1, stuff_area_limit=stuff_area_limit)
        c0, c1 = _as_official_2ch(pan.long(), num_things, num_stuff)
        assert np.array_equal(c0, expected_c0), trial
        assert np.array_equal(c1, expected_c1), trial
