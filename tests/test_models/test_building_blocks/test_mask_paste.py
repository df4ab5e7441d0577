"""Box regions and mask pasting against brute-force loops."""
import pytest
import torch
import torch.nn.functional as F

from mmpanoptic.models.building_blocks import (box_pixel_ranges,
                                               box_region_masks, paste_masks)

BOXES = torch.tensor([[0.5, 1.2, 4.5, 3.49], [2.0, 0.0, 2.4, 5.0],
                      [-3.0, -1.0, 9.0, 9.0], [3.0, 2.0, 2.0, 1.0]])


@pytest.mark.parametrize('stride', [1.0, 4.0])
def test_box_region_masks_by_pixel_centres(stride):
    height, width = 5, 6
    masks = box_region_masks(BOXES * stride, height, width, stride)
    for k, (x1, y1, x2, y2) in enumerate((BOXES * stride).tolist()):
        for y in range(height):
            for x in range(width):
                cx, cy = (x + 0.5) * stride, (y + 0.5) * stride
                inside = x1 <= cx <= x2 and y1 <= cy <= y2
                assert bool(masks[k, y, x]) == inside, (k, y, x)


def test_box_pixel_ranges_are_the_stride_one_regions():
    height, width = 5, 6
    masks = box_region_masks(BOXES, height, width)
    x0, y0, x1, y1 = box_pixel_ranges(BOXES, height, width)
    for k in range(len(BOXES)):
        ranges = torch.zeros(height, width, dtype=torch.bool)
        ranges[y0[k]:y1[k] + 1, x0[k]:x1[k] + 1] = True
        assert torch.equal(ranges, masks[k])


def test_paste_masks_is_bilinear_inside_and_zero_outside():
    gen = torch.Generator().manual_seed(0)
    masks = torch.rand(2, 7, 7, generator=gen, requires_grad=True)
    boxes = torch.tensor([[1.0, 2.0, 9.0, 7.0], [4.0, 0.0, 6.0, 12.0]])
    pasted = paste_masks(masks, boxes, 12, 10)
    inside = box_region_masks(boxes, 12, 10)
    assert (pasted[~inside] == 0).all()
    for k, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        # grid_sample at the pixel centres, in the box's normalised frame
        xs = (torch.arange(10) + 0.5 - x1) / (x2 - x1) * 2 - 1
        ys = (torch.arange(12) + 0.5 - y1) / (y2 - y1) * 2 - 1
        grid = torch.stack(torch.meshgrid(xs, ys, indexing='xy'), -1)
        expected = F.grid_sample(
            masks[k][None, None], grid[None], align_corners=False)[0, 0]
        torch.testing.assert_close(pasted[k][inside[k]],
                                   expected[inside[k]])
    pasted.sum().backward()
    assert masks.grad.abs().sum() > 0
    assert paste_masks(masks[:0], boxes[:0], 3, 3).shape == (0, 3, 3)
