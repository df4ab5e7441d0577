# The Unifying model (full model D2: masks, dense instance affinity,
# panoptic matching loss, argmax inference) with a ResNet-18 trained from
# scratch on the embedded synthetic dataset, on the same data, schedule,
# batch and image size as the baseline
# configs/panoptic_fpn/panoptic-fpn_r18_fpn_1xb4-800i_synthetic.py
# (FPN 128 channels, RPN/R-CNN settings and loss weights of that baseline).
_base_ = [
    '../_base_/models/unifying_r50_fpn.py',
    '../_base_/datasets/synthetic_panoptic.py',
    '../_base_/schedules/schedule_synthetic.py',
    '../_base_/synthetic_runtime.py',
]
num_things_classes, num_stuff_classes = 4, 4
# plain convs: mmcv's deformable convs are ~9x a dense conv on CPU
decoder = dict(
    type='UPSNetSemanticHead',
    in_channels=128,
    feat_channels=128,
    out_channels=64,
    num_convs=2,
    deformable=False,
    norm_cfg=dict(type='GN', num_groups=16, requires_grad=True))

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
    # the paper's Lovasz softmax (App. B, its Cityscapes choice; mmseg's
    # LovaszLoss) at the baseline's semantic loss weight (0.5)
    semantic_head=dict(
        decoder,
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        loss_seg=dict(
            _delete_=True,
            type='mmseg.LovaszLoss',
            loss_type='multi_class',
            per_image=False,
            reduction='none',
            loss_weight=0.5),
        loss_roi=None),
    # the paper's COCO choices: variant C, s (V + M) (App. A.3: B erodes
    # things where the semantic head leans to stuff) and the 0.75 inference
    # cut-off (App. B)
    potential_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        variant='C'),
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes),
    affinity_head=dict(affinity_channels=128, decoder=decoder),
    # 4x the baseline-matched 1.0: the matching loss is the only signal of
    # the affinity head, and 800 iterations are few
    loss_panoptic=dict(loss_weight=4.0),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128)),
        panoptic=dict(score_thr=0.5, max_per_img=50)),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=300),
        # NMS IoU 0.3 instead of 0.5 for the detections fed to the panoptic
        # submodule: in training the duplicates of a matched object are
        # removed before that submodule (Sec. 3.5), so it never learns to
        # suppress them, and the argmax splits an object between a
        # detection and its duplicate (there is no merger to drop it).
        # Chosen on the 200 *training* images (0.5 in training, unchanged)
        rcnn=dict(score_thr=0.05, nms=dict(iou_threshold=0.3)),
        # the stuff area limit of the baseline (64 px at 128 x 128); things
        # at input resolution (Sec. 3.4.1; cheap at 128 px)
        panoptic=dict(
            score_thr=0.75, stuff_area_limit=64, full_resolution_things=True)))

# AdamW (lr 1e-3, weight decay 0.05) instead of the schedule's SGD for this
# from-scratch 800-iteration budget (warm-up, step and grad clip kept), as
# the Panoptic FCN synthetic config.
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=0.05))
