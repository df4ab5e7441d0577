# Panoptic FPN (mmdet) with a ResNet-18 trained from scratch on the embedded
# synthetic dataset: the baseline every method's synthetic config is
# compared with (same data, schedule, batch and image size).
_base_ = [
    '../_base_/models/panoptic-fpn_r50_fpn.py',
    '../_base_/datasets/synthetic_panoptic.py',
    '../_base_/schedules/schedule_synthetic.py',
    '../_base_/synthetic_runtime.py',
]
num_things_classes, num_stuff_classes = 4, 4

model = dict(
    backbone=dict(depth=18, frozen_stages=-1, norm_eval=False,
                  init_cfg=None),  # from scratch: nothing is downloaded
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=128),
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
    semantic_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        in_channels=128,
        inner_channels=64,
        norm_cfg=dict(type='GN', num_groups=16, requires_grad=True)),
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=300),
        rcnn=dict(score_thr=0.5),
        # stuff regions below 64 px (4096 px at COCO scale) become VOID
        panoptic=dict(mask_overlap=0.5, stuff_area_limit=64)))
