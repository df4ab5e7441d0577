import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData, PixelData

from mmpanoptic.models.building_blocks import UPSNetSemanticHead


def _levels(channels=32, size=32, batch=2):
    torch.manual_seed(0)
    return tuple(
        torch.randn(batch, channels, size // 2**i, size // 2**i)
        for i in range(5))


@pytest.mark.parametrize('deformable', [True, False])
def test_forward_shapes_and_layers(deformable):
    head = UPSNetSemanticHead(
        num_things_classes=3, num_stuff_classes=2, in_channels=32,
        feat_channels=24, out_channels=16, num_convs=3,
        deformable=deformable)
    head.init_weights()
    out = head(_levels(), with_feats=True)
    assert out['seg_preds'].shape == (2, 5, 32, 32)
    assert out['seg_feats'].shape == (2, 4 * 16, 32, 32)
    convs = [layer.conv for layer in head.subnet]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(32, 24),
                                                                (24, 16),
                                                                (16, 16)]
    if deformable:
        from mmcv.ops import DeformConv2dPack
        assert all(isinstance(c, DeformConv2dPack) for c in convs)
        assert all(c.conv_offset.weight.abs().sum() == 0 for c in convs)
    else:
        assert all(type(c) is torch.nn.Conv2d for c in convs)


def test_two_layers_and_group_norm():
    head = UPSNetSemanticHead(
        num_things_classes=3, num_stuff_classes=2, in_channels=32,
        out_channels=16, num_convs=2, norm_cfg=dict(type='GN', num_groups=4))
    assert [(layer.conv.in_channels, layer.conv.out_channels)
            for layer in head.subnet] == [(32, 16), (16, 16)]
    assert all(isinstance(layer.gn, torch.nn.GroupNorm)
               for layer in head.subnet)
    with pytest.raises(ValueError, match='num_convs'):
        UPSNetSemanticHead(num_convs=0)
    with pytest.raises(ValueError, match='feature levels'):
        head(_levels()[:1])


def test_shared_subnet_on_every_level():
    head = UPSNetSemanticHead(
        num_things_classes=1, num_stuff_classes=1, in_channels=8,
        out_channels=8, num_convs=1, deformable=False)
    same = torch.randn(1, 8, 4, 4)
    levels = (same, same, same, same)
    feats = head(levels, with_feats=True)['seg_feats']
    # identical inputs at equal size give four identical blocks
    blocks = feats.split(8, dim=1)
    assert all(torch.allclose(blocks[0], b) for b in blocks[1:])


@pytest.mark.parametrize('num_convs', [1, 3])
def test_logits_classify_the_concatenated_features(num_convs):
    # per-level classification, then upsampling, equals the 1x1 classifier
    # on the concatenation of the upsampled levels (both maps are linear)
    head = UPSNetSemanticHead(
        num_things_classes=3, num_stuff_classes=2, in_channels=32,
        feat_channels=24, out_channels=16, num_convs=num_convs,
        deformable=False)
    head.init_weights()
    torch.nn.init.normal_(head.conv_logits.weight)
    torch.nn.init.normal_(head.conv_logits.bias)
    levels = tuple(
        torch.randn(2, 32, size, size + 3) for size in (20, 10, 5, 3, 2))
    out = head(levels, with_feats=True)
    assert 'seg_feats' not in head(levels)
    expected_feats = torch.cat([
        torch.nn.functional.interpolate(
            head.subnet(level), size=(20, 23), mode='bilinear',
            align_corners=False) for level in levels[:4]
    ], dim=1)
    torch.testing.assert_close(out['seg_feats'], expected_feats)
    torch.testing.assert_close(out['seg_preds'],
                               head.conv_logits(expected_feats))
    torch.testing.assert_close(head(levels)['seg_preds'], out['seg_preds'])


def _sample(size=32, with_boxes=True):
    sample = DetDataSample()
    sem = torch.full((1, size, size), 3)
    sem[0, 4:12, 4:12] = 0
    sem[0, 0, :] = 255
    sample.gt_sem_seg = PixelData(sem_seg=sem)
    boxes = torch.tensor([[4., 4., 12., 12.]]) if with_boxes else \
        torch.zeros(0, 4)
    sample.gt_instances = InstanceData(
        bboxes=boxes, labels=torch.zeros(len(boxes), dtype=torch.long))
    return sample


def test_losses_are_cross_entropy_with_ignore():
    head = UPSNetSemanticHead(
        num_things_classes=3, num_stuff_classes=2, in_channels=32,
        out_channels=8, num_convs=1, deformable=False,
        loss_seg=dict(type='CrossEntropyLoss', ignore_index=255,
                      avg_non_ignore=True, loss_weight=1.0),
        loss_roi=dict(type='CrossEntropyLoss', ignore_index=255,
                      avg_non_ignore=True, loss_weight=0.2))
    seg_preds = torch.zeros(2, 5, 8, 8)  # uniform logits: CE = log(5)
    losses = head.loss_by_feat(seg_preds, [_sample(), _sample()])
    assert torch.allclose(losses['loss_seg'], torch.log(torch.tensor(5.)))
    assert torch.allclose(losses['loss_roi'],
                          0.2 * torch.log(torch.tensor(5.)))
    # a perfect prediction inside the box lowers only the RoI loss a lot
    seg_preds[:, 0, 1:3, 1:3] = 20
    losses = head.loss_by_feat(seg_preds, [_sample(), _sample()])
    assert losses['loss_roi'] < 0.05
    assert losses['loss_seg'] > 1.0
    # no boxes at all: RoI loss 0 but still in the graph
    preds = torch.zeros(1, 5, 8, 8, requires_grad=True)
    losses = head.loss_by_feat(preds, [_sample(with_boxes=False)])
    assert losses['loss_roi'] == 0
    sum(losses.values()).backward()


def test_predict_rescales_to_original_size():
    head = UPSNetSemanticHead(
        num_things_classes=3, num_stuff_classes=2, in_channels=32,
        out_channels=8, num_convs=1, deformable=False)
    metas = [dict(batch_input_shape=(32, 32), img_shape=(30, 28),
                  ori_shape=(60, 56))] * 2
    preds = head.predict(_levels(), metas, rescale=True)
    assert [p.shape for p in preds] == [(5, 60, 56)] * 2
