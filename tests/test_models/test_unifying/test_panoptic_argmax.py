import pytest
import torch
import torch.nn.functional as F
from mmdet.evaluation.functional import INSTANCE_OFFSET

from mmpanoptic.models.panoptic_heads.dynamic_potential import \
    dynamic_potential
from mmpanoptic.models.panoptic_heads.panoptic_argmax import (
    full_resolution_argmax, panoptic_from_channels, upsample_argmax)


@pytest.mark.parametrize('implementation', ['pytorch', 'compiled'])
def test_upsample_argmax_equals_full_upsampling(implementation):
    torch.manual_seed(0)
    logits = torch.randn(37, 6, 9)
    full = F.interpolate(
        logits[None], size=(24, 36), mode='bilinear',
        align_corners=False)[:, :, :22, :35]
    full = F.interpolate(full, size=(30, 40), mode='bilinear',
                         align_corners=False)[0]
    result = upsample_argmax(logits, (22, 35), (30, 40), stride=4,
                             implementation=implementation)
    assert torch.equal(result, full.argmax(0))
    assert upsample_argmax(logits[:0], (22, 35), (22, 35),
                           4).eq(-1).all()


def test_panoptic_ids_from_channels_and_small_stuff_trimming():
    # 2 detections (labels 1, 0), stuff classes 2 and 3 (channels 2, 3)
    channel_map = torch.tensor([[0, 0, 2, 2, 2],
                                [1, 1, 2, 2, 3],
                                [-1, 1, 2, 2, 2]])
    panoptic = panoptic_from_channels(
        channel_map, torch.tensor([1, 0]), num_things=2, num_stuff=2,
        stuff_area_limit=2)
    void = 4
    expected = torch.tensor(
        [[1 + INSTANCE_OFFSET] * 2 + [2] * 3,
         [0 + 2 * INSTANCE_OFFSET] * 2 + [2, 2, void],
         [void, 0 + 2 * INSTANCE_OFFSET, 2, 2, 2]])
    assert torch.equal(panoptic, expected)
    # an absent detection does not take an instance id
    panoptic = panoptic_from_channels(
        torch.tensor([[1, 2]]), torch.tensor([1, 0]), 2, 2)
    assert panoptic.tolist() == [[0 + INSTANCE_OFFSET, 2]]


def _full_resolution_reference(logits, potential, probs, boxes, scores,
                               labels, mask_probs, variant, valid, out,
                               stride):
    """Unchunked: up(P - Psi) + Psi recomputed on the upsampled V at
    stride 1 (all channels at once), resized to ``out``, argmax."""
    height, width = logits.shape[1:]

    def upsample(maps):
        return F.interpolate(maps[None], size=(height * stride,
                                               width * stride),
                             mode='bilinear', align_corners=False)[
                                 0, :, :valid[0], :valid[1]]

    full_probs = upsample(probs)
    full_potential = dynamic_potential(full_probs, boxes, scores, labels,
                                       NUM_THINGS, 1, mask_probs, variant)
    values = upsample(logits - potential) + full_potential
    if tuple(valid) != tuple(out):
        values = F.interpolate(values[None], size=out, mode='bilinear',
                               align_corners=False)[0]
    return values.argmax(dim=0)


NUM_THINGS, NUM_STUFF = 3, 2


@pytest.mark.parametrize('variant', ['A', 'B', 'C'])
@pytest.mark.parametrize('with_masks', [True, False])
def test_full_resolution_argmax_equals_unchunked_reference(variant,
                                                           with_masks):
    generator = torch.Generator().manual_seed(3)
    probs = torch.rand(NUM_THINGS + NUM_STUFF, 6, 9,
                       generator=generator).softmax(dim=0)
    boxes = torch.tensor([[1.0, 2.0, 17.0, 13.0], [10.0, 0.0, 33.0, 22.0],
                          [3.5, 5.5, 9.5, 21.0]])
    scores = torch.tensor([0.9, 0.7, 0.6])
    labels = torch.tensor([0, 2, 0])
    mask_probs = torch.rand(3, 7, 7, generator=generator) \
        if with_masks else None
    potential = dynamic_potential(probs, boxes, scores, labels, NUM_THINGS,
                                  4, mask_probs, variant)
    # any affinity term: P = Psi + something smooth
    logits = potential + 0.1 * torch.rand(potential.shape,
                                          generator=generator)
    for valid, out in [((24, 36), (24, 36)), ((22, 33), (30, 45))]:
        expected = _full_resolution_reference(logits, potential, probs,
                                              boxes, scores, labels,
                                              mask_probs, variant, valid,
                                              out, 4)
        result = full_resolution_argmax(logits, potential, probs, boxes,
                                        scores, labels, mask_probs, variant,
                                        valid, out, 4, chunk_channels=2)
        assert torch.equal(result, expected)


def test_full_resolution_argmax_follows_box_edges_at_input_resolution():
    """One detection whose box edge is at x = 10 (not on the 4-pixel grid),
    semantic probabilities 1 for its class: with full-resolution things the
    thing ends exactly at the box edge; upsampling P from 1/4 does not."""
    probs = torch.zeros(NUM_THINGS + NUM_STUFF, 4, 4)
    probs[0] = 0.9
    probs[NUM_THINGS] = 0.1  # one stuff class everywhere else
    boxes = torch.tensor([[0.0, 0.0, 10.0, 16.0]])
    scores = torch.tensor([1.0])
    labels = torch.tensor([0])
    potential = dynamic_potential(probs, boxes, scores, labels, NUM_THINGS,
                                  4, None, 'B')
    result = full_resolution_argmax(potential, potential, probs, boxes,
                                    scores, labels, None, 'B', (16, 16),
                                    (16, 16), 4)
    # pixel centres x + 0.5 <= 10 are inside: columns 0..9 are the thing
    assert (result[:, :10] == 0).all()
    assert (result[:, 10:] == 1).all()  # channel D + 0: the stuff class
    coarse = upsample_argmax(potential, (16, 16), (16, 16), 4)
    assert not torch.equal(coarse, result)


def test_full_resolution_argmax_without_detections_is_upsample_argmax():
    generator = torch.Generator().manual_seed(4)
    probs = torch.rand(NUM_THINGS + NUM_STUFF, 5, 6,
                       generator=generator).softmax(dim=0)
    empty = torch.zeros(0, 4)
    potential = dynamic_potential(probs, empty, torch.zeros(0),
                                  torch.zeros(0, dtype=torch.long),
                                  NUM_THINGS, 4)
    logits = potential + torch.rand(potential.shape, generator=generator)
    result = full_resolution_argmax(logits, potential, probs, empty,
                                    torch.zeros(0),
                                    torch.zeros(0, dtype=torch.long), None,
                                    'B', (18, 22), (25, 30), 4)
    assert torch.equal(result,
                       upsample_argmax(logits, (18, 22), (25, 30), 4))
    with pytest.raises(ValueError, match='differ'):
        full_resolution_argmax(logits, potential[:1], probs, empty,
                               torch.zeros(0),
                               torch.zeros(0, dtype=torch.long), None, 'B',
                               (18, 22), (25, 30), 4)
