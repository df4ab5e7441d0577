# AUNet (PAM + MAM + reweight) with a ResNet-18 trained from scratch on the
# embedded synthetic dataset: same data, schedule (800 iters, batch 4,
# 128x128), channels (FPN 128), RPN/R-CNN sampling and panoptic cut-off
# (0.5) as the baseline configs/panoptic_fpn/panoptic-fpn_r18_fpn_1xb4-800i_synthetic.py;
# AUNet's own GN heads and Mask R-CNN test settings in the FG branch.
_base_ = [
    '../_base_/models/aunet_r50_fpn.py',
    '../_base_/datasets/synthetic_panoptic.py',
    '../_base_/schedules/schedule_synthetic.py',
    '../_base_/synthetic_runtime.py',
]
num_things_classes, num_stuff_classes = 4, 4
norm_cfg = dict(type='GN', num_groups=16, requires_grad=True)

model = dict(
    backbone=dict(
        depth=18,
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),  # from scratch: nothing is downloaded
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=128),
    rpn_head=dict(
        in_channels=128,
        feat_channels=128,
        norm_cfg=norm_cfg,
        # objects here are 12-55 px: anchors of 16-256 px
        anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=128),
        # the GN box head's 4 convs at 32 channels keep a training iteration
        # near the cost of the baseline's 2fc head on CPU (1.7x at 128)
        bbox_head=dict(
            in_channels=128,
            conv_out_channels=32,
            fc_out_channels=256,
            num_classes=num_things_classes,
            norm_cfg=norm_cfg),
        mask_roi_extractor=dict(out_channels=128),
        mask_head=dict(
            num_convs=2,
            in_channels=128,
            conv_out_channels=128,
            num_classes=num_things_classes,
            norm_cfg=norm_cfg)),
    semantic_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        in_channels=128,
        feat_channels=64,  # the baseline's semantic inner channels
        rpn_channels=128,
        mask_channels=128,
        norm_cfg=norm_cfg),
    # lambda_4 = 0.5: the baseline's semantic loss weight
    loss_weights=dict(rpn=1.0, rcnn=1.0, mask=1.0, seg=0.5),
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=300),
        # stuff regions below 64 px (4096 px at COCO scale) become VOID; no
        # category relations among the synthetic shapes
        panoptic=dict(
            score_thr=0.5,
            mask_overlap=0.5,
            stuff_area_limit=64,
            category_relations=[])))
