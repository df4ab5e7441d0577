# Table 1, row "sep": things and stuff from separate models. The BG branch
# gets its own ResNet-50 + FPN; with no shared parameters, training the sum
# of the losses is training the two models separately, each at its own loss
# scale: the BG model's loss weight is 1 (lambda_4 = 0.3 balances the
# branches of the joint model only).
_base_ = './aunet-e2e_r50_fpn_8xb2-18e_coco.py'
model = dict(
    loss_weights=dict(rpn=1.0, rcnn=1.0, mask=1.0, seg=1.0),
    bg_backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    bg_neck=dict(
        type='FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        num_outs=4))
