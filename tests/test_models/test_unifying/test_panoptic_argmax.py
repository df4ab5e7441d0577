import pytest
import torch
import torch.nn.functional as F
from mmdet.evaluation.functional import INSTANCE_OFFSET

from mmpanoptic.models.unifying.dynamic_potential import dynamic_potential
from mmpanoptic.models.unifying.full_resolution import (
    full_resolution_argmax, full_resolution_logits, upsampled_log_partition)
from mmpanoptic.models.unifying.panoptic_head import panoptic_from_channels
from mmpanoptic.ops.resample import upsample_argmax


@pytest.mark.parametrize('implementation', ['pytorch', 'compiled'])
def test_upsample_argmax_equals_full_upsampling(implementation):
    torch.manual_seed(0)
    logits = torch.randn(37, 6, 9)
    full = F.interpolate(
        logits[None], size=(24, 36), mode='bilinear',
        align_corners=False)[:, :, :22, :35]
    full = F.interpolate(
        full, size=(30, 40), mode='bilinear', align_corners=False)[0]
    result = upsample_argmax(
        logits, (22, 35), (30, 40), stride=4, implementation=implementation)
    assert torch.equal(result, full.argmax(0))
    assert upsample_argmax(logits[:0], (22, 35), (22, 35), 4).eq(-1).all()


def test_panoptic_ids_from_channels_and_small_stuff_trimming():
    # 2 detections (labels 1, 0), stuff classes 2 and 3 (channels 2, 3)
    channel_map = torch.tensor([[0, 0, 2, 2, 2], [1, 1, 2, 2, 3],
                                [-1, 1, 2, 2, 2]])
    panoptic = panoptic_from_channels(
        channel_map,
        torch.tensor([1, 0]),
        num_things_classes=2,
        num_stuff_classes=2,
        stuff_area_limit=2)
    void = 4
    expected = torch.tensor([[1 + INSTANCE_OFFSET] * 2 + [2] * 3,
                             [0 + 2 * INSTANCE_OFFSET] * 2 + [2, 2, void],
                             [void, 0 + 2 * INSTANCE_OFFSET, 2, 2, 2]])
    assert torch.equal(panoptic, expected)
    # an absent detection does not take an instance id
    panoptic = panoptic_from_channels(
        torch.tensor([[1, 2]]), torch.tensor([1, 0]), 2, 2)
    assert panoptic.tolist() == [[0 + INSTANCE_OFFSET, 2]]


def _full_resolution_reference(logits, potential, semantic_logits, boxes,
                               scores, labels, mask_probs, variant, valid, out,
                               stride):
    """Unchunked: up(P - Psi) + Psi recomputed at stride 1 from V =
    softmax(up(semantic logits)) (all channels at once), resized to
    ``out``, argmax."""
    height, width = logits.shape[1:]

    def upsample(maps):
        return F.interpolate(
            maps[None],
            size=(height * stride, width * stride),
            mode='bilinear',
            align_corners=False)[0, :, :valid[0], :valid[1]]

    full_probs = upsample(semantic_logits).softmax(dim=0)
    full_potential = dynamic_potential(full_probs, boxes, scores, labels,
                                       NUM_THINGS, 1, mask_probs, variant)
    values = upsample(logits - potential) + full_potential
    if tuple(valid) != tuple(out):
        values = F.interpolate(
            values[None], size=out, mode='bilinear', align_corners=False)[0]
    return values.argmax(dim=0)


NUM_THINGS, NUM_STUFF = 3, 2


def test_upsampled_log_partition_equals_unchunked_logsumexp():
    generator = torch.Generator().manual_seed(2)
    semantic_logits = 5 * torch.randn(7, 5, 6, generator=generator)
    expected = F.interpolate(
        semantic_logits[None],
        size=(20, 24),
        mode='bilinear',
        align_corners=False)[0, :, :18, :23].logsumexp(dim=0)
    for chunk_channels in (1, 3, 7, 16):
        result = upsampled_log_partition(semantic_logits, (18, 23), 4,
                                         chunk_channels)
        torch.testing.assert_close(result, expected)


@pytest.mark.parametrize('variant', ['A', 'B', 'C', 'C-unscaled-mask'])
@pytest.mark.parametrize('with_masks', [True, False])
def test_full_resolution_argmax_equals_unchunked_reference(
        variant, with_masks):
    generator = torch.Generator().manual_seed(3)
    semantic_logits = 3 * torch.randn(
        NUM_THINGS + NUM_STUFF, 6, 9, generator=generator)
    probs = semantic_logits.softmax(dim=0)
    boxes = torch.tensor([[1.0, 2.0, 17.0, 13.0], [10.0, 0.0, 33.0, 22.0],
                          [3.5, 5.5, 9.5, 21.0]])
    scores = torch.tensor([0.9, 0.7, 0.6])
    labels = torch.tensor([0, 2, 0])
    mask_probs = torch.rand(3, 7, 7, generator=generator) \
        if with_masks else None
    potential = dynamic_potential(probs, boxes, scores, labels, NUM_THINGS, 4,
                                  mask_probs, variant)
    # any affinity term: P = Psi + something smooth
    logits = potential + 0.1 * torch.rand(potential.shape, generator=generator)
    for valid, out in [((24, 36), (24, 36)), ((22, 33), (30, 45))]:
        expected = _full_resolution_reference(logits, potential,
                                              semantic_logits, boxes, scores,
                                              labels, mask_probs, variant,
                                              valid, out, 4)
        # chunks of 2 channels: detections, a detection with a stuff
        # channel, stuff
        for chunk_channels in (2, 16):
            result = full_resolution_argmax(logits, potential, semantic_logits,
                                            boxes, scores, labels, mask_probs,
                                            variant, valid, out, 4,
                                            chunk_channels)
            assert torch.equal(result, expected)


def test_full_resolution_argmax_follows_box_edges_at_input_resolution():
    """One detection whose box edge is at x = 10 (not on the 4-pixel grid),
    semantic probabilities 0.9 for its class: with full-resolution things
    the thing ends exactly at the box edge; upsampling P from 1/4 does
    not."""
    probs = torch.full((NUM_THINGS + NUM_STUFF, 4, 4), 1e-6)
    probs[0] = 0.9
    probs[NUM_THINGS] = 0.1  # one stuff class everywhere else
    semantic_logits = probs.log()
    boxes = torch.tensor([[0.0, 0.0, 10.0, 16.0]])
    scores = torch.tensor([1.0])
    labels = torch.tensor([0])
    potential = dynamic_potential(
        semantic_logits.softmax(dim=0), boxes, scores, labels, NUM_THINGS, 4,
        None, 'B')
    result = full_resolution_argmax(potential, potential, semantic_logits,
                                    boxes, scores, labels, None, 'B', (16, 16),
                                    (16, 16), 4)
    # pixel centres x + 0.5 <= 10 are inside: columns 0..9 are the thing
    assert (result[:, :10] == 0).all()
    assert (result[:, 10:] == 1).all()  # channel D + 0: the stuff class
    coarse = upsample_argmax(potential, (16, 16), (16, 16), 4)
    assert not torch.equal(coarse, result)


def test_full_resolution_things_follow_the_semantic_argmax_boundary():
    """One thing class, one stuff class, a detection over the whole image
    with score 1, no masks, no affinity term (P = Psi): the thing covers
    exactly the pixels whose upsampled semantic logits favour its class,
    i.e. ``pred_sem_seg``'s thing pixels. Upsampling the probabilities
    instead moves the boundary: here the logit difference goes from -10 to
    +1 across one 4-pixel cell, the upsampled difference crosses 0 at
    10/11 of the way, the upsampled probability crosses 1/2 at 0.68."""
    difference = torch.tensor([-10.0, -10.0, 1.0, 1.0])
    semantic_logits = torch.stack(
        [difference[None].expand(2, 4),
         torch.zeros(2, 4)])  # (2 classes, 2, 4)
    boxes = torch.tensor([[0.0, 0.0, 16.0, 8.0]])
    scores, labels = torch.tensor([1.0]), torch.tensor([0])
    potential = dynamic_potential(
        semantic_logits.softmax(dim=0), boxes, scores, labels, 1, 4, None, 'C')
    result = full_resolution_argmax(potential, potential, semantic_logits,
                                    boxes, scores, labels, None, 'C', (8, 16),
                                    (8, 16), 4)
    semantic_argmax = upsample_argmax(semantic_logits, (8, 16), (8, 16), 4)
    assert torch.equal(result, semantic_argmax)  # channel 0 = class 0
    # output column x is at 1/4 coordinate (x + 0.5) / 4 - 0.5: column 9 is
    # 0.875 of the way from cell 1 to cell 2 (difference -0.375, stuff),
    # column 10 is on cell 2's side (+1): the thing starts at column 10
    assert result[0].tolist() == [1] * 10 + [0] * 6
    # upsampled probabilities: column 9 has 0.875 * sigmoid(1) = 0.64 > 1/2
    upsampled_probs = F.interpolate(
        semantic_logits.softmax(dim=0)[None],
        size=(8, 16),
        mode='bilinear',
        align_corners=False)[0]
    assert upsampled_probs.argmax(dim=0)[0].tolist() == [1] * 9 + [0] * 7


def test_full_resolution_argmax_without_detections_is_the_stuff_argmax():
    """No detections and no affinity term: the argmax of the stuff classes'
    upsampled semantic logits (the softmax keeps their order), compared at
    input size (a resize to another size interpolates probabilities)."""
    generator = torch.Generator().manual_seed(4)
    semantic_logits = 3 * torch.randn(
        NUM_THINGS + NUM_STUFF, 5, 6, generator=generator)
    empty = torch.zeros(0, 4)
    no_labels = torch.zeros(0, dtype=torch.long)
    potential = dynamic_potential(
        semantic_logits.softmax(dim=0), empty, torch.zeros(0), no_labels,
        NUM_THINGS, 4)
    result = full_resolution_argmax(potential,
                                    potential, semantic_logits, empty,
                                    torch.zeros(0), no_labels, None, 'B',
                                    (18, 22), (18, 22), 4)
    assert torch.equal(
        result,
        upsample_argmax(semantic_logits[NUM_THINGS:], (18, 22), (18, 22), 4))
    with pytest.raises(ValueError, match='differ'):
        full_resolution_argmax(potential,
                               potential[:1], semantic_logits, empty,
                               torch.zeros(0), no_labels, None, 'B', (18, 22),
                               (25, 30), 4)
    with pytest.raises(ValueError, match='do not fit'):
        full_resolution_argmax(potential, potential,
                               semantic_logits[:NUM_STUFF - 1], empty,
                               torch.zeros(0), no_labels, None, 'B', (18, 22),
                               (25, 30), 4)


def _random_panoptic_inputs(variant, seed=5, stride=4):
    generator = torch.Generator().manual_seed(seed)
    semantic_logits = 3 * torch.randn(
        NUM_THINGS + NUM_STUFF, 6, 9, generator=generator)
    boxes = torch.tensor([[1.0, 2.0, 17.0, 13.0], [10.0, 0.0, 33.0, 22.0],
                          [3.5, 5.5, 9.5, 21.0]]) * stride / 4
    scores = torch.tensor([0.9, 0.7, 0.6])
    labels = torch.tensor([0, 2, 0])
    mask_probs = torch.rand(3, 7, 7, generator=generator)
    potential = dynamic_potential(
        semantic_logits.softmax(dim=0), boxes, scores, labels, NUM_THINGS,
        stride, mask_probs, variant)
    logits = potential + 0.1 * torch.rand(potential.shape, generator=generator)
    return logits, potential, semantic_logits, boxes, scores, labels, \
        mask_probs


@pytest.mark.parametrize('variant', ['B', 'C'])
def test_full_resolution_logits_at_stride_1_are_p(variant):
    """At stride 1 the maps already are at input resolution: upsampling is
    the identity and the potential recomputed there is the potential, so
    the full-resolution logits are ``P`` itself (the matching loss on them
    is the usual one)."""
    logits, potential, semantic_logits, boxes, scores, labels, mask_probs = \
        _random_panoptic_inputs(variant, stride=1)
    result = full_resolution_logits(logits, potential, semantic_logits, boxes,
                                    scores, labels, mask_probs, variant,
                                    (6, 9), 1)
    assert torch.allclose(result, logits, atol=1e-6)


def test_full_resolution_logits_are_what_the_argmax_takes():
    """All channels at once = the unchunked reference, channel ranges
    concatenate to all channels, and their argmax is
    :func:`full_resolution_argmax`'s."""
    inputs = _random_panoptic_inputs('C')
    logits, potential, semantic_logits = inputs[:3]
    result = full_resolution_logits(*inputs, 'C', (22, 33), 4)
    assert result.shape == (logits.shape[0], 22, 33)
    expected = _full_resolution_reference(*inputs, 'C', (22, 33), (22, 33), 4)
    assert torch.equal(result.argmax(dim=0), expected)
    ranges = [(0, 2), (2, 4), (4, 5)]  # detections, mixed, stuff
    parts = [
        full_resolution_logits(*inputs, 'C', (22, 33), 4, channels)
        for channels in ranges
    ]
    assert torch.allclose(torch.cat(parts), result, atol=1e-6)
    assert full_resolution_logits(*inputs, 'C', (22, 33), 4,
                                  (3, 3)).shape == (0, 22, 33)
    with pytest.raises(ValueError, match='channel range'):
        full_resolution_logits(*inputs, 'C', (22, 33), 4, (4, 6))


def test_full_resolution_logits_are_differentiable():
    """The matching loss on them trains the affinity term, the detection
    scores, the masks and the semantic logits."""
    logits, potential, semantic_logits, boxes, scores, labels, mask_probs = \
        _random_panoptic_inputs('C')
    leaves = [logits, semantic_logits, scores, mask_probs]
    for leaf in leaves:
        leaf.requires_grad_(True)
    result = full_resolution_logits(logits, potential.detach(),
                                    semantic_logits, boxes, scores, labels,
                                    mask_probs, 'C', (24, 36), 4)
    (result *
     torch.linspace(-1, 1, result.numel()).view_as(result)).sum().backward()
    for leaf in leaves:
        assert leaf.grad is not None and leaf.grad.abs().sum() > 0
