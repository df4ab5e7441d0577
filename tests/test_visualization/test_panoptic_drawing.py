"""The pure drawing functions, on hand-made maps with computed answers."""
import numpy as np
import pytest

from mmpanoptic.visualization import (blend_panoptic, class_shades,
                                      panoptic_from_annotations,
                                      segment_boundaries, segment_colors)

PALETTE = [(200, 100, 0), (10, 20, 30), (0, 0, 255), (40, 200, 40)]
NUM_CLASSES = 4  # things 0, 1; stuff 2, 3; VOID = 4


def test_class_shades_spread_from_dark_to_light():
    # shifts -0.45, 0, +0.45: c * 0.55, c, c + 0.45 * (255 - c), rounded
    assert class_shades((200, 100, 0), 3) == [(110, 55, 0), (200, 100, 0),
                                              (225, 170, 115)]
    assert class_shades((200, 100, 0), 1) == [(200, 100, 0)]
    assert class_shades((200, 100, 0), 0) == []
    shades = class_shades((120, 170, 235), 6)
    assert len(set(shades)) == 6
    brightness = [sum(c) for c in shades]
    assert brightness == sorted(brightness)


@pytest.mark.parametrize('kwargs', [dict(num_shades=-1),
                                    dict(num_shades=2, max_shift=1.0)])
def test_class_shades_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        class_shades((1, 2, 3), **kwargs)


def test_segment_colors_stuff_things_void():
    # stuff 2, thing 0 instances 3 and 1, thing 1 instance 2, VOID
    ids = np.array([2, 3000, 1000, 2001, 4])
    colors = segment_colors(ids, PALETTE, NUM_CLASSES)
    dark, light = class_shades(PALETTE[0], 2)
    assert colors.tolist() == [
        list(PALETTE[2]),
        list(light),  # instance 3 after instance 1: the lighter shade
        list(dark),
        list(PALETTE[1]),  # the only thing of class 1: the class colour
        [0, 0, 0],  # VOID
    ]


def test_segment_colors_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match='out of range'):
        segment_colors(np.array([5]), PALETTE, NUM_CLASSES)
    with pytest.raises(ValueError, match='palette'):
        segment_colors(np.array([1]), PALETTE[:2], NUM_CLASSES)


def test_segment_boundaries():
    seg = np.array([[2, 2, 3],
                    [2, 2, 3],
                    [1000, 1000, 1000]])
    expected = np.array([[0, 0, 1],
                         [0, 0, 1],
                         [1, 1, 1]], bool)
    assert (segment_boundaries(seg) == expected).all()
    assert not segment_boundaries(np.full((3, 4), 7)).any()


def test_blend_panoptic_colours_void_and_contours():
    image = np.full((2, 3, 3), 100, np.uint8)
    seg = np.array([[2, 2, 4],
                    [2, 2, 4]])  # stuff 2 | VOID
    solid = blend_panoptic(image, seg, PALETTE, NUM_CLASSES, alpha=1.0,
                           contour_color=None)
    assert solid[:, :2].tolist() == [[list(PALETTE[2])] * 2] * 2
    assert (solid[:, 2] == 100).all()  # VOID keeps the image
    half = blend_panoptic(image, seg, PALETTE, NUM_CLASSES, alpha=0.5,
                          contour_color=(255, 255, 255))
    assert half[0, 0].tolist() == [50, 50, 178]  # 100/2 + (0, 0, 255)/2
    assert half[0, 2].tolist() == [255, 255, 255]  # on the border


def test_blend_panoptic_rejects_size_mismatch():
    with pytest.raises(ValueError, match='differ in size'):
        blend_panoptic(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5)),
                       PALETTE, NUM_CLASSES)


def test_panoptic_from_annotations_with_crowd_and_void():
    sem = np.array([[3, 3, 0, 0],
                    [3, 255, 0, 1],
                    [1, 1, 0, 1]])
    masks = np.zeros((2, 3, 4), bool)
    masks[0, :, 2] = True           # thing 0 -> instance 1
    masks[1, 1:, 3] = True          # thing 1 -> instance 2
    # sem label 1 at (2, 0), (2, 1) without a mask: a crowd region
    pan = panoptic_from_annotations(sem, masks, np.array([0, 1]),
                                    NUM_CLASSES)
    assert pan.tolist() == [[3, 3, 1000, 0],
                            [3, 4, 1000, 2001],
                            [1, 1, 1000, 2001]]


def test_panoptic_from_annotations_checks_shapes():
    with pytest.raises(ValueError, match='differ in size'):
        panoptic_from_annotations(np.zeros((3, 4)), np.zeros((1, 3, 5)),
                                  np.array([0]), NUM_CLASSES)
    with pytest.raises(ValueError, match='labels'):
        panoptic_from_annotations(np.zeros((3, 4)), np.zeros((1, 3, 4)),
                                  np.array([0, 1]), NUM_CLASSES)
