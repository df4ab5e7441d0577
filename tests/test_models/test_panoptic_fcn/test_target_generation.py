"""Target generation of Panoptic FCN on hand-made masks with known answers."""
import math

import pytest
import torch

from mmpanoptic.models.panoptic_fcn.target_generation import (
    CITYSCAPES_INSTANCE_SCALES, COCO_INSTANCE_SCALES, assign_levels,
    centers_to_cells, draw_center_heatmaps, gaussian_radius, mass_centers,
    resize_stuff_targets, stuff_one_hot, thing_level_targets)


def test_mass_centers_of_square_and_l_shape():
    masks = torch.zeros(3, 10, 12, dtype=torch.bool)
    masks[0, 2:4, 3:7] = True  # rows 2-3, cols 3-6: centre (5.0, 3.0)
    # L-shape: 3 pixels in column 0 (rows 0-2) and 2 more in row 2 (cols 1-2)
    masks[1, 0:3, 0] = True
    masks[1, 2, 1:3] = True
    centers = mass_centers(masks)
    assert centers[0].tolist() == pytest.approx([5.0, 3.0])
    # x: (0.5 * 3 + 1.5 + 2.5) / 5 = 1.1; y: (0.5 + 1.5 + 2.5 * 3) / 5 = 1.9
    assert centers[1].tolist() == pytest.approx([1.1, 1.9])
    # empty mask -> image centre
    assert centers[2].tolist() == pytest.approx([6.0, 5.0])
    # the mass centre of an L lies where the box centre would not
    assert mass_centers(torch.zeros(0, 4, 4)).shape == (0, 2)
    with pytest.raises(ValueError, match='masks must be'):
        mass_centers(torch.zeros(4, 4))


def _cornernet_radius(w, h, overlap):
    """Scalar CornerNet formula, written independently of the module."""
    r1 = ((h + w) + math.sqrt((h + w)**2 - 4 * w * h * (1 - overlap) /
                              (1 + overlap))) / 2
    r2 = (2 * (h + w) + math.sqrt(4 * (h + w)**2 - 16 *
                                  (1 - overlap) * w * h)) / 2
    a3, b3, c3 = 4 * overlap, -2 * overlap * (h + w), (overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def test_gaussian_radius_known_values():
    # square box of side s: r = s * (sqrt(11.2) - 2.8) / 2 = 0.27332 s
    radii = gaussian_radius(torch.tensor([[10., 10.], [20., 10.], [3., 7.]]),
                            min_overlap=0.7)
    assert radii[0].item() == pytest.approx(2.7332, abs=1e-4)
    assert radii[1].item() == pytest.approx(
        _cornernet_radius(20, 10, 0.7), rel=1e-6)
    assert radii[2].item() == pytest.approx(
        _cornernet_radius(3, 7, 0.7), rel=1e-6)
    # a looser overlap gives a larger radius
    assert gaussian_radius(torch.tensor([[10., 10.]]), 0.5)[0] > radii[0]


def test_assign_levels_coco_and_cityscapes_overlapping_ranges():
    sizes = torch.tensor([10., 40., 100., 300., 600., 3000.])
    coco = assign_levels(sizes, COCO_INSTANCE_SCALES)
    expected = torch.tensor([
        [1, 1, 0, 0, 0, 0],  # (1, 64)
        [0, 1, 1, 0, 0, 0],  # (32, 128)
        [0, 0, 1, 0, 0, 0],  # (64, 256)
        [0, 0, 0, 1, 0, 0],  # (128, 512)
        [0, 0, 0, 1, 1, 0],  # (256, 2048)
    ], dtype=torch.bool)
    assert torch.equal(coco, expected)
    city = assign_levels(sizes, CITYSCAPES_INSTANCE_SCALES)
    assert city[:, 2].tolist() == [True, True, False, False, False]
    assert city[:, 4].tolist() == [False, False, False, True, True]
    # range ends are inclusive
    assert assign_levels(torch.tensor([64.]), COCO_INSTANCE_SCALES)[:2, 0] \
        .tolist() == [True, True]
    with pytest.raises(ValueError, match='instance_scales'):
        assign_levels(sizes, (1, 2, 3))


def test_centers_to_cells():
    centers = torch.tensor([[16.0, 16.0], [127.9, 0.1], [200., -3.]])
    cells = centers_to_cells(centers, (128, 128), (16, 16))
    assert cells.tolist() == [[2, 2], [15, 0], [15, 0]]


def test_draw_center_heatmaps_values_window_and_max():
    cells = torch.tensor([[2, 3], [3, 3], [6, 6]])
    radii = torch.tensor([1, 1, 0])
    labels = torch.tensor([1, 1, 0])
    heatmap = draw_center_heatmaps(cells, radii, labels, 2, (8, 8))
    assert heatmap.shape == (2, 8, 8)
    sigma = 3 / 3  # (2r + 1) / 3 with r = 1
    side = math.exp(-1 / (2 * sigma**2))
    corner = math.exp(-2 / (2 * sigma**2))
    assert heatmap[1, 3, 2].item() == pytest.approx(1.0)
    assert heatmap[1, 3, 3].item() == pytest.approx(1.0)  # the max of two
    assert heatmap[1, 2, 1].item() == pytest.approx(corner)
    assert heatmap[1, 3, 1].item() == pytest.approx(side)
    assert heatmap[1, 3, 5].item() == pytest.approx(0.0)  # outside windows
    assert heatmap[1, 3, 4].item() == pytest.approx(side)
    # radius 0: a single point on channel 0
    assert heatmap[0].sum().item() == pytest.approx(1.0)
    assert heatmap[0, 6, 6].item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match='thing labels'):
        draw_center_heatmaps(cells, radii, torch.tensor([0, 2, 0]), 2,
                             (8, 8))


def test_stuff_one_hot_things_channel_and_ignore():
    # T = 2 things, S = 3 stuff; labels 2..4 are stuff, 255 ignore
    sem = torch.tensor([[0, 1, 2, 3],
                        [2, 2, 4, 255],
                        [4, 4, 4, 255],
                        [3, 3, 0, 0]])
    targets = stuff_one_hot(sem, 2, 3, (4, 4))
    assert targets.shape == (4, 4, 4)
    assert torch.equal(targets[0], (sem == 2).float())
    assert torch.equal(targets[1], (sem == 3).float())
    assert torch.equal(targets[2], (sem == 4).float())
    assert torch.equal(targets[3], (sem < 2).float())  # all things
    # ignored pixels: 0 in every channel (negatives, as the official code)
    assert targets[:, 1:3, 3].sum() == 0
    no_things = stuff_one_hot(sem, 2, 3, (4, 4), stuff_with_things=False)
    assert no_things.shape == (3, 4, 4)
    assert no_things[:, 0, 0].sum() == 0  # a thing pixel
    # downsampled 2x: a cell is the mean of its 2x2 block
    half = stuff_one_hot(sem, 2, 3, (2, 2))
    assert half[2, 1, 0].item() == pytest.approx(0.5)  # 4, 4, 3, 3
    assert half[2, 1, 1].item() == pytest.approx(0.25)  # 4, 255, 0, 0
    assert half[:, 0, 1].sum().item() == pytest.approx(0.75)  # 2, 3, 4, 255
    all_ignored = stuff_one_hot(torch.full((4, 4), 255), 2, 3, (2, 2))
    assert all_ignored.shape == (4, 2, 2) and all_ignored.sum() == 0
    with pytest.raises(ValueError, match='semantic labels'):
        stuff_one_hot(torch.tensor([[7]]), 2, 3, (1, 1))


def test_resize_stuff_targets_zeroes_below_half():
    targets = torch.zeros(2, 4, 4)
    targets[0, :, :1] = 1  # a quarter of each 2x2 block: 0.5 after 2x down
    targets[1, :2, :2] = 0.3
    level = resize_stuff_targets(targets, (2, 2))
    assert level[0, :, 0].tolist() == pytest.approx([0.5, 0.5])
    assert level[0, :, 1].sum().item() == 0
    assert level[1].sum().item() == 0  # 0.3 < 0.5 is zeroed


def test_thing_level_targets_square_objects():
    masks = torch.zeros(2, 128, 128, dtype=torch.bool)
    masks[0, 8:24, 8:24] = True  # 16 px: P3 only, centre (16, 16)
    masks[1, 40:88, 60:108] = True  # 48 px: P3 and P4, centre (84, 64)
    box_wh = torch.tensor([[16., 16.], [48., 48.]])
    sizes = torch.tensor([16., 48.])
    labels = torch.tensor([0, 2])
    level_sizes = [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    levels = thing_level_targets(masks, sizes, box_wh, labels, 3, (128, 128),
                                 level_sizes, COCO_INSTANCE_SCALES)
    assert levels[0]['object_index'].tolist() == [0, 1]
    assert levels[0]['cells'].tolist() == [[2, 2], [10, 8]]
    assert levels[1]['object_index'].tolist() == [1]
    assert levels[1]['cells'].tolist() == [[5, 4]]
    for level in levels[2:]:
        assert len(level['object_index']) == 0
        assert level['heatmap'].sum() == 0
    heat = levels[0]['heatmap']
    assert heat[0, 2, 2] == 1 and heat[2, 8, 10] == 1
    # 48 px on P3 = 6 cells: radius int(0.2733 * 6) = 1 -> 3x3 window
    assert (heat[2] > 0).sum().item() == 9
    # 16 px on P3 = 2 cells: radius 0 -> a single point
    assert (heat[0] > 0).sum().item() == 1
