import torch

from mmpanoptic.models.building_blocks import crop_semantic_targets
from mmpanoptic.models.upsnet.panoptic_targets import (
    nearest_downsample_targets, panoptic_targets, sample_unknown_instances)


def test_crop_semantic_targets_nearest():
    sem = torch.arange(16).reshape(1, 4, 4)
    # box covering pixels 1..2 in x and y, 2x2 crop: bin centres at 1.5, 2.5
    rois = torch.tensor([[0., 1., 1., 3., 3.]])
    crops = crop_semantic_targets(sem, rois, size=2)
    assert crops.tolist() == [[[5, 6], [9, 10]]]
    # partly outside the image (centres 3 and 5): 255 there
    rois = torch.tensor([[0., 2., 2., 6., 6.]])
    crops = crop_semantic_targets(sem, rois, size=2)
    assert crops.tolist() == [[[15, 255], [255, 255]]]


def test_sample_unknown_instances():
    torch.manual_seed(0)
    assert sample_unknown_instances(0).numel() == 0
    assert sample_unknown_instances(1).tolist() == [True]
    keep = sample_unknown_instances(10, 0.3)
    assert int(keep.sum()) == 7


def test_panoptic_targets():
    # T = 2, S = 2: sem 0/1 things, 2/3 stuff
    sem = torch.tensor([[2, 3, 0, 0],
                        [2, 1, 1, 0],
                        [255, 3, 3, 1]])
    masks = torch.zeros(3, 3, 4, dtype=torch.bool)
    masks[0, 0, 2:] = True  # instance 0 (kept)
    masks[0, 1, 3] = True
    masks[1, 1, 1:3] = True  # instance 1 (left out: unknown)
    masks[2, 2, 3] = True  # instance 2 (kept)
    keep = torch.tensor([True, False, True])
    target = panoptic_targets(sem, masks, keep, 2, 2)
    # stuff 0..1, kept instances 2, 3, unknown 4
    assert target.tolist() == [[0, 1, 2, 2], [0, 4, 4, 2], [255, 1, 1, 3]]
    # a thing pixel of no instance (crowd, Cityscapes group) is unknown
    sem[2, 0] = 0
    target = panoptic_targets(sem, masks, keep, 2, 2)
    assert target[2, 0] == 4
    assert nearest_downsample_targets(target, (1, 2)).tolist() == [[0, 2]]
    # without the unknown class those pixels are ignored, and nothing else
    # changes
    all_kept = torch.ones(3, dtype=torch.bool)
    target = panoptic_targets(sem, masks, all_kept, 2, 2, with_unknown=False)
    assert target.tolist() == [[0, 1, 2, 2], [0, 3, 3, 2], [255, 1, 1, 4]]
    target = panoptic_targets(sem, masks, keep, 2, 2, with_unknown=False)
    assert target.tolist() == [[0, 1, 2, 2], [0, 255, 255, 2],
                               [255, 1, 1, 3]]


def official_mask_matching(gt_segs, gt_masks, keep_inds, num_seg_classes,
                           num_classes):
    """Transcription of ``MaskMatching.forward`` of uber-research/UPSNet,
    ``upsnet/operators/modules/mask_matching.py`` lines 37-58 (the
    ``config.dataset`` values as arguments; ``class_mapping`` has
    ``num_classes - 1`` entries). Labels are the official ones: stuff
    first, then things."""
    num_inst_classes = num_classes - 1
    matched_gt = torch.ones_like(gt_segs) * -1
    matched_gt = torch.where(gt_segs <= num_seg_classes - num_classes,
                             gt_segs, matched_gt)
    matched_gt = torch.where(gt_segs >= 255, gt_segs, matched_gt)
    if keep_inds is not None:
        gt_masks = gt_masks[keep_inds]

    for i in range(gt_masks.shape[0]):
        matched_gt[(gt_masks[[i], :, :] != 0) & (gt_masks[[i], :, :] != 255)] \
            = i + num_seg_classes - num_inst_classes
    if keep_inds is not None:
        matched_gt[matched_gt == -1] = \
            num_seg_classes - num_inst_classes + gt_masks.shape[0]
    else:
        matched_gt[matched_gt == -1] = 255

    return matched_gt


def test_panoptic_targets_equal_official_mask_matching():
    """Against the official ``MaskMatching`` on random panoptic images with
    crowd regions (thing pixels without an instance mask) and ignored
    pixels, with the unknown class (random kept subsets) and without it
    (all kept, ``keep_inds=None``)."""
    num_things, num_stuff = 3, 4
    gen = torch.Generator().manual_seed(0)
    for trial in range(20):
        height, width = 9, 11
        num_segments = int(torch.randint(2, 9, (), generator=gen))
        ids = torch.randint(0, num_segments, (height, width), generator=gen)
        # segment -> label (things first), some segments are crowd
        seg_labels = torch.randint(0, num_things + num_stuff,
                                   (num_segments, ), generator=gen)
        crowd = torch.rand(num_segments, generator=gen) < 0.25
        sem = seg_labels[ids]
        sem[torch.rand(height, width, generator=gen) < 0.1] = 255
        instances = [s for s in range(num_segments)
                     if seg_labels[s] < num_things and not crowd[s]]
        masks = torch.stack([ids == s for s in instances]) if instances \
            else torch.zeros(0, height, width, dtype=torch.bool)
        # official labels: stuff first, then things
        official_sem = torch.where(
            sem == 255, sem,
            torch.where(sem < num_things, sem + num_stuff, sem - num_things))
        num_seg_classes, num_classes = num_things + num_stuff, num_things + 1

        expected = official_mask_matching(official_sem[None],
                                          masks.long(), None,
                                          num_seg_classes, num_classes)[0]
        target = panoptic_targets(sem, masks,
                                  torch.ones(len(instances), dtype=torch.bool),
                                  num_things, num_stuff, with_unknown=False)
        assert torch.equal(target, expected), trial
        if not instances:
            continue
        keep = sample_unknown_instances(len(instances), 0.3)
        keep_inds = torch.nonzero(keep)[:, 0]  # in order, as our channels
        expected = official_mask_matching(official_sem[None], masks.long(),
                                          keep_inds, num_seg_classes,
                                          num_classes)[0]
        target = panoptic_targets(sem, masks, keep, num_things, num_stuff)
        assert torch.equal(target, expected), trial
