import torch
import torch.nn.functional as F
from mmdet.models.necks import FPN
from mmdet.structures import DetDataSample
from mmengine.structures import PixelData
from mmengine.registry import DefaultScope
from mmseg.models.losses.lovasz_loss import lovasz_hinge

from mmpanoptic.models.unifying import SEFPN, RoIMaskLovaszHingeLoss
from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules


def test_roi_mask_lovasz_hinge_selects_the_class_channel():
    torch.manual_seed(0)
    targets = (torch.rand(3, 6, 6) > 0.5).long()
    labels = torch.tensor([2, 0, 1])
    perfect = torch.randn(3, 3, 6, 6)
    perfect[torch.arange(3), labels] = 3. * (2 * targets.float() - 1)
    loss = RoIMaskLovaszHingeLoss(loss_weight=2.0)
    # margins >= 1 on the right side: the hinge is 0 whatever the other
    # classes' logits are
    assert loss(perfect, targets, labels).item() == 0
    logits = torch.randn(3, 3, 6, 6, requires_grad=True)
    value = loss(logits, targets, labels)
    expected = torch.stack([
        lovasz_hinge(logits[i, labels[i]][None], targets[i][None])
        for i in range(3)
    ]).mean()
    torch.testing.assert_close(value, 2.0 * expected)
    value.backward()
    other = torch.ones(3, 3, dtype=torch.bool)
    other[torch.arange(3), labels] = False
    assert logits.grad[other].abs().sum() == 0
    empty = loss(torch.zeros(0, 3, 6, 6, requires_grad=True),
                 torch.zeros(0, 6, 6), torch.zeros(0, dtype=torch.long))
    assert empty.item() == 0 and empty.requires_grad


def test_lovasz_softmax_semantic_loss_of_the_cityscapes_config():
    """The Cityscapes configs' semantic loss (mmseg's Lovasz softmax, built
    through mmpanoptic's registry) inside the UPSNet semantic head."""
    register_all_modules()
    with DefaultScope.overwrite_default_scope('mmpanoptic'):
        head = MODELS.build(
            dict(
                type='UPSNetSemanticHead',
                num_things_classes=2,
                num_stuff_classes=2,
                in_channels=8,
                feat_channels=8,
                out_channels=4,
                num_convs=2,
                num_levels=1,
                deformable=False,
                loss_seg=dict(
                    type='mmseg.LovaszLoss',
                    loss_type='multi_class',
                    per_image=False,
                    reduction='none',
                    loss_weight=1.0),
                loss_roi=None))
    labels = torch.randint(0, 4, (1, 8, 8))
    labels[0, 0] = 255
    sample = DetDataSample()
    sample.gt_sem_seg = PixelData(sem_seg=labels)
    # logits given at the label size (loss_by_feat resizes to it)
    onehot = F.one_hot(labels[0].clamp(max=3), 4)
    perfect = 100. * onehot.permute(2, 0, 1)[None].float()
    loss = head.loss_by_feat(perfect, [sample])['loss_seg']
    assert loss.item() < 1e-6
    wrong = head.loss_by_feat(-perfect, [sample])['loss_seg']
    assert wrong.item() > 0.9


def test_se_fpn_reweights_the_top_feature_before_the_fpn():
    torch.manual_seed(0)
    kwargs = dict(in_channels=[4, 8, 16], out_channels=6, num_outs=4)
    se_fpn = SEFPN(se_ratio=4, **kwargs)
    fpn = FPN(**kwargs)
    fpn.load_state_dict(
        {k: v
         for k, v in se_fpn.state_dict().items()
         if not k.startswith('squeeze_excitation')})
    inputs = (torch.randn(2, 4, 16, 16), torch.randn(2, 8, 8, 8),
              torch.randn(2, 16, 4, 4))
    gate = se_fpn.squeeze_excitation(inputs[2]) / inputs[2]
    # one gate in (0, 1) per image and channel
    assert ((gate > 0) & (gate < 1)).all()
    torch.testing.assert_close(gate, gate[:, :, :1, :1].expand_as(gate))
    outputs = se_fpn(inputs)
    expected = fpn(inputs[:2] + (se_fpn.squeeze_excitation(inputs[2]), ))
    assert len(outputs) == 4
    for out, ref in zip(outputs, expected):
        torch.testing.assert_close(out, ref)
    plain = fpn(inputs)
    assert not torch.allclose(outputs[-2], plain[-2])
