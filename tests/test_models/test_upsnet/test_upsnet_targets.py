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
    masks[1, 1, 1:3] = True  # instance 1 (unknown)
    masks[2, 2, 3] = True  # instance 2 (kept)
    keep = torch.tensor([True, False, True])
    target = panoptic_targets(sem, masks, keep, 2, 2)
    # stuff 0..1, kept instances 2, 3, unknown 4
    assert target.tolist() == [[0, 1, 2, 2], [0, 4, 4, 2], [255, 1, 1, 3]]
    # a thing pixel of no instance (crowd) is ignored
    sem[2, 0] = 0
    target = panoptic_targets(sem, masks, keep, 2, 2)
    assert target[2, 0] == 255
    assert nearest_downsample_targets(target, (1, 2)).tolist() == [[0, 2]]
