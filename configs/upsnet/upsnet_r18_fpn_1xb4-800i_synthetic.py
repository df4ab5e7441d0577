# UPSNet with a ResNet-18 trained from scratch on the embedded synthetic
# dataset; same data, schedule, batch (4), image size (128x128) and channels
# (FPN 128) as configs/panoptic_fpn/panoptic-fpn_r18_fpn_1xb4-800i_synthetic.py.
_base_ = [
    '../_base_/models/upsnet_r50_fpn.py',
    '../_base_/datasets/synthetic_panoptic.py',
    '../_base_/schedules/schedule_synthetic.py',
    '../_base_/synthetic_runtime.py',
]
num_things_classes, num_stuff_classes = 4, 4

model = dict(
    backbone=dict(depth=18, frozen_stages=-1, norm_eval=False,
                  init_cfg=None),  # from scratch: nothing is downloaded
    # plain FPN: the paper adds the res5 context on COCO only
    neck=dict(type='FPN', in_channels=[64, 128, 256, 512], out_channels=128),
    rpn_head=dict(
        in_channels=128,
        feat_channels=128,
        # objects here are 12-55 px: anchors of 16-256 px
        anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=128),
        bbox_head=dict(
            in_channels=128,
            fc_out_channels=256,
            num_classes=num_things_classes),
        mask_roi_extractor=dict(out_channels=128),
        mask_head=dict(
            num_convs=2,
            in_channels=128,
            conv_out_channels=128,
            num_classes=num_things_classes)),
    # 2 deformable layers as on Cityscapes: 128 -> 64 -> 64, with GN as the
    # baseline's semantic head (without it, training from scratch at lr 0.02
    # diverges after the warm-up)
    semantic_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        in_channels=128,
        feat_channels=128,
        out_channels=64,
        num_convs=2,
        norm_cfg=dict(
            _delete_=True, type='GN', num_groups=16, requires_grad=True),
        # loss weights of Cityscapes/"others" in the paper: 1.0 / 0.2 / 0.5
        loss_seg=dict(loss_weight=1.0),
        loss_roi=dict(loss_weight=0.2)),
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        loss_panoptic=dict(loss_weight=0.5)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=300),
        # detections of the panoptic logits: scores > 0.5 (0.6 on COCO);
        # stuff regions below 64 px (4096 px at COCO scale) become VOID
        panoptic=dict(score_thr=0.5, stuff_area_limit=64)))

# deformable offsets learn at 0.1 x lr (from scratch they drift otherwise)
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'conv_offset': dict(lr_mult=0.1)}))
