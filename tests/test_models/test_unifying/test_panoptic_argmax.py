import torch
import torch.nn.functional as F
from mmdet.evaluation.functional import INSTANCE_OFFSET

from mmpanoptic.models.panoptic_heads.panoptic_argmax import (
    panoptic_from_channels, upsample_argmax)


def test_chunked_upsample_argmax_equals_full_upsampling():
    torch.manual_seed(0)
    logits = torch.randn(37, 6, 9)
    full = F.interpolate(
        logits[None], size=(24, 36), mode='bilinear',
        align_corners=False)[:, :, :22, :35]
    full = F.interpolate(full, size=(30, 40), mode='bilinear',
                         align_corners=False)[0]
    result = upsample_argmax(logits, (22, 35), (30, 40), stride=4,
                             chunk_channels=5)
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
