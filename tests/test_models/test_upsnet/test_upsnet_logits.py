import torch

from mmpanoptic.models.building_blocks.mask_paste import (box_region_masks,
                                                          paste_masks)
from mmpanoptic.models.upsnet.panoptic_logits import (box_pixels,
                                                      panoptic_logits,
                                                      panoptic_logits_argmax,
                                                      sample_mask_logits,
                                                      select_instances,
                                                      unknown_logits)


def test_unknown_logits_formula():
    # X_thing (T=2, 1x3) and X_mask (N=2, 1x3)
    thing = torch.tensor([[[1., 5., 2.]], [[3., 0., 4.]]])
    instance_semantic = torch.tensor([[[2., 0., 0.]], [[0., 0., 4.]]])
    # max(X_thing) = [3, 5, 4], max(X_mask) = [2, 0, 4]
    expected = torch.tensor([[1., 5., 0.]])
    assert torch.equal(unknown_logits(thing, instance_semantic), expected)
    # no instance: max(X_mask) is 0
    assert torch.equal(
        unknown_logits(thing, torch.zeros(0, 1, 3)),
        torch.tensor([[3., 5., 4.]]))


def test_panoptic_logits_hand_made():
    # T = 1 thing, S = 1 stuff, 2x4 image, one instance in columns 1..2
    semantic = torch.tensor([[[1., 2., 3., 4.], [5., 6., 7., 8.]],
                             [[-1., -2., -3., -4.], [0., 0., 0., 0.]]])
    boxes = torch.tensor([[1., 0., 3., 2.]])
    mask = torch.full((1, 28, 28), 0.5)
    z = panoptic_logits(semantic, boxes, torch.tensor([0]), mask, 1)
    assert z.shape == (1 + 1 + 1, 2, 4)
    assert torch.equal(z[0], semantic[1])  # stuff
    # inside the box: X_thing + 0.5 (constant mask, away from the border of
    # the pasted mask the bilinear value is exact), 0 outside
    inside = torch.tensor([[0., 1., 1., 0.], [0., 1., 1., 0.]]).bool()
    assert torch.allclose(z[1][inside], semantic[0][inside] + 0.5)
    assert torch.equal(z[1][~inside], torch.zeros(4))
    # unknown = X_thing - max(X_mask): 0 inside, X_thing outside (max is
    # the implicit 0 of the single instance)
    expected_unknown = torch.where(inside, torch.zeros(()), semantic[0])
    assert torch.equal(z[2], expected_unknown)


def test_inside_box_masks_pixel_centres():
    boxes = torch.tensor([[0.6, 0.0, 2.4, 1.0], [-5., -5., 1.0, 20.]])
    masks = box_region_masks(boxes, 2, 4)
    # centres 0.5, 1.5, 2.5, 3.5: only 1.5 in [0.6, 2.4]
    assert masks[0].tolist() == [[False, True, False, False],
                                 [False, False, False, False]]
    assert masks[1].tolist() == [[True, False, False, False]] * 2


def _random_case(seed,
                 height=37,
                 width=45,
                 num_things_classes=3,
                 num_stuff_classes=4,
                 num_instances=12):
    gen = torch.Generator().manual_seed(seed)
    semantic = torch.randn(
        num_things_classes + num_stuff_classes, height, width,
        generator=gen) * 2
    semantic[:, :10, :10] -= 8  # all logits negative: out-of-box 0 wins
    xy = torch.rand(
        num_instances, 2, generator=gen) * torch.tensor([width, height])
    wh = torch.rand(
        num_instances, 2, generator=gen) * torch.tensor([width, height
                                                         ]) * 0.6 + 0.3
    boxes = torch.cat([xy - 3, xy + wh], dim=1)  # some leave the image
    boxes[0] = torch.tensor([5.2, 5.3, 5.4, 5.45])  # no pixel centre inside
    labels = torch.randint(
        num_things_classes, (num_instances, ), generator=gen)
    masks = torch.randn(num_instances, 28, 28, generator=gen) * 3
    return semantic, boxes, labels, masks


def test_sparse_paste_matches_dense_paste():
    semantic, boxes, labels, masks = _random_case(0)
    height, width = semantic.shape[-2:]
    dense = paste_masks(masks, boxes, height, width)
    pixels = box_pixels(boxes, height, width)
    values = sample_mask_logits(masks, boxes, pixels)
    inside = box_region_masks(boxes, height, width)
    assert pixels.instance.numel() == int(inside.sum())
    assert torch.equal(pixels.offsets[1:] - pixels.offsets[:-1],
                       inside.flatten(1).sum(1))
    assert torch.allclose(
        values, dense[pixels.instance, pixels.y, pixels.x], atol=1e-4)


def _dense_reference(semantic, boxes, labels, masks, num_things_classes,
                     with_unknown=True):
    num_stuff_classes = semantic.shape[0] - num_things_classes
    num = boxes.shape[0]
    z = panoptic_logits(semantic, boxes, labels, masks, num_things_classes,
                        with_unknown)
    channel = z.argmax(0)
    inside = box_region_masks(boxes, *semantic.shape[-2:])
    instance = (channel - num_stuff_classes).clamp(0, max(num - 1, 0))
    is_instance = (channel >= num_stuff_classes) & (
        channel < num_stuff_classes + num)
    if num:
        out_of_box = is_instance & ~inside.gather(0, instance[None])[0]
        channel = torch.where(out_of_box, num_stuff_classes + num, channel)
    return channel, is_instance


def test_panoptic_argmax_equals_dense_argmax():
    for seed in range(3):
        semantic, boxes, labels, masks = _random_case(seed)
        height, width = semantic.shape[-2:]
        expected, _ = _dense_reference(semantic, boxes, labels, masks, 3)
        pixels = box_pixels(boxes, height, width)
        values = sample_mask_logits(masks, boxes, pixels)
        channel = panoptic_logits_argmax(semantic, labels, pixels, values, 3)
        assert torch.equal(channel, expected)
        # every kind of outcome is exercised
        assert (channel < 4).any() and (channel == 4 + 12).any()
        assert ((channel >= 4) & (channel < 16)).any()


def test_no_unknown_setting():
    """Table 6's "no unknown" rows: Z has no unknown channel and the argmax
    gives ``S + N`` only where an out-of-box 0 is the maximum."""
    semantic, boxes, labels, masks = _random_case(2)
    height, width = semantic.shape[-2:]
    z = panoptic_logits(semantic, boxes, labels, masks, 3, with_unknown=False)
    assert z.shape == (4 + 12, height, width)
    assert torch.equal(z, panoptic_logits(semantic, boxes, labels, masks,
                                          3)[:-1])
    expected, _ = _dense_reference(semantic, boxes, labels, masks, 3,
                                   with_unknown=False)
    pixels = box_pixels(boxes, height, width)
    values = sample_mask_logits(masks, boxes, pixels)
    channel = panoptic_logits_argmax(semantic, labels, pixels, values, 3,
                                     with_unknown=False)
    assert torch.equal(channel, expected)
    with_unknown = panoptic_logits_argmax(semantic, labels, pixels, values, 3)
    assert (channel == 16).sum() < (with_unknown == 16).sum()
    # every pixel of the all-negative corner is outside every box or in
    # one: no Z_unknown, the corner is stuff or an instance
    z_max = z.max(0).values
    assert ((channel == 16) == ((z_max == 0) & (channel == 16))).all()
    # no instance: the stuff argmax everywhere
    empty = box_pixels(torch.zeros(0, 4), height, width)
    channel = panoptic_logits_argmax(semantic,
                                     torch.zeros(0, dtype=torch.long), empty,
                                     torch.zeros(0), 3, with_unknown=False)
    assert torch.equal(channel, semantic[3:].argmax(0))


def test_panoptic_argmax_after_selecting_instances():
    semantic, boxes, labels, masks = _random_case(5)
    height, width = semantic.shape[-2:]
    keep = torch.tensor([True, False] * 6)
    pixels = box_pixels(boxes, height, width)
    values = sample_mask_logits(masks, boxes, pixels)
    pixels_k, values_k = select_instances(pixels, values, keep)
    channel = panoptic_logits_argmax(semantic, labels[keep], pixels_k,
                                     values_k, 3)
    expected, _ = _dense_reference(semantic, boxes[keep], labels[keep],
                                   masks[keep], 3)
    assert torch.equal(channel, expected)


def test_panoptic_argmax_without_instances():
    semantic, _, _, _ = _random_case(1)
    height, width = semantic.shape[-2:]
    empty = torch.zeros(0, 4)
    pixels = box_pixels(empty, height, width)
    channel = panoptic_logits_argmax(semantic,
                                     torch.zeros(0, dtype=torch.long), pixels,
                                     torch.zeros(0), 3)
    stuff_max, stuff_arg = semantic[3:].max(0)
    thing_max = semantic[:3].max(0).values
    assert torch.equal(
        channel, torch.where(stuff_max >= thing_max, stuff_arg,
                             torch.tensor(4)))


def test_panoptic_logits_gradients():
    semantic, boxes, labels, masks = _random_case(2, num_instances=4)
    semantic.requires_grad_(True)
    masks.requires_grad_(True)
    z = panoptic_logits(semantic, boxes, labels, masks, 3)
    z.logsumexp(0).sum().backward()
    assert semantic.grad.abs().sum() > 0
    # instances 1..3 have pixels; instance 0 has none, no gradient
    assert masks.grad[1:].abs().flatten(1).sum(1).gt(0).all()
    assert masks.grad[0].abs().sum() == 0


def test_semantic_maxima_labels_equal_argmax():
    from mmpanoptic.models.upsnet.panoptic_logits import semantic_maxima
    semantic, _, _, _ = _random_case(4)
    maxima = semantic_maxima(semantic, 3)
    assert torch.equal(maxima.labels(3), semantic.argmax(0))
    assert torch.equal(maxima.thing_max, semantic[:3].max(0).values)
    # no stuff class: -inf maxima, labels are the thing argmax
    maxima = semantic_maxima(semantic[:3], 3)
    assert torch.isinf(maxima.stuff_max).all()
    assert torch.equal(maxima.labels(3), semantic[:3].argmax(0))
