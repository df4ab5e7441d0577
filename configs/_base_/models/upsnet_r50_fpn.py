# UPSNet R50-FPN (Xiong et al., CVPR 2019) as a model-only base, with the
# COCO settings of the paper and the official code: 80 things + 53 stuff,
# global context of res5 added before P5, 3 deformable layers in the
# semantic head, loss weights semantic 0.2 / RoI 0.04 / panoptic 0.1.
# Deviations from the official code: pytorch-style ResNet with frozen BN
# statistics (norm_eval) instead of the caffe-style one.
num_things_classes, num_stuff_classes = 80, 53
_base_ = './two-stage_train-test-cfg.py'

model = dict(
    type='UPSNet',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        pad_mask=True,
        mask_pad_value=0,
        pad_seg=True,
        seg_pad_value=255),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(
        type='GlobalContextFPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        num_outs=5),
    rpn_head=dict(
        type='RPNHead',
        in_channels=256,
        feat_channels=256,
        anchor_generator=dict(
            type='AnchorGenerator',
            scales=[8],
            ratios=[0.5, 1.0, 2.0],
            strides=[4, 8, 16, 32, 64]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    roi_head=dict(
        type='StandardRoIHead',
        bbox_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32]),
        bbox_head=dict(
            type='Shared2FCBBoxHead',
            in_channels=256,
            fc_out_channels=1024,
            roi_feat_size=7,
            num_classes=num_things_classes,
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0., 0., 0., 0.],
                target_stds=[0.1, 0.1, 0.2, 0.2]),
            reg_class_agnostic=False,
            loss_cls=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        mask_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32]),
        mask_head=dict(
            type='FCNMaskHead',
            num_convs=4,
            in_channels=256,
            conv_out_channels=256,
            num_classes=num_things_classes,
            loss_mask=dict(
                type='CrossEntropyLoss', use_mask=True, loss_weight=1.0))),
    semantic_head=dict(
        type='UPSNetSemanticHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        in_channels=256,
        feat_channels=256,
        out_channels=128,
        num_convs=3,
        deformable=True,  # False: plain 3x3 convs (faster on CPU)
        norm_cfg=None,
        loss_seg=dict(
            type='CrossEntropyLoss',
            ignore_index=255,
            avg_non_ignore=True,
            loss_weight=0.2),
        loss_roi=dict(  # semantic weight / 5
            type='CrossEntropyLoss',
            ignore_index=255,
            avg_non_ignore=True,
            loss_weight=0.04)),
    panoptic_fusion_head=dict(
        type='UPSNetPanopticHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        unknown_fraction=0.3,  # paper 3.1: 30 % of the GT masks unknown
        with_unknown=True,
        loss_panoptic=dict(
            type='CrossEntropyLoss',
            ignore_index=255,
            avg_non_ignore=True,
            loss_weight=0.1)),
    train_cfg=dict(
        rcnn=dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.5,
                neg_iou_thr=0.5,
                min_pos_iou=0.5,
                match_low_quality=True,
                ignore_iof_thr=-1),
            sampler=dict(
                type='RandomSampler',
                num=512,
                pos_fraction=0.25,
                neg_pos_ub=-1,
                add_gt_as_proposals=True),
            mask_size=28,
            pos_weight=-1,
            debug=False)),
    test_cfg=dict(
        # the standard detections (official config.test): pred_instances,
        # box / mask AP and the heuristic combination of UPSNet-C / -CP
        rcnn=dict(
            score_thr=0.05,
            nms=dict(type='nms', iou_threshold=0.5),
            max_per_img=100,
            mask_thr_binary=0.5),
        panoptic=dict(
            fusion='unified',  # 'heuristic' for UPSNet-C / -CP
            # the detections of the panoptic logits (paper 3.2):
            # class-agnostic NMS 0.5, scores > 0.6, at most 100
            score_thr=0.6,
            nms=dict(type='nms', iou_threshold=0.5, class_agnostic=True),
            max_per_img=100,
            mask_overlap=0.3,  # same-class mask pruning
            class_assignment=True,  # instance class assignment (3.1)
            stuff_majority=0.5,
            # UPSNet-C / -CP (official): standard detections >= 0.6, a
            # mask skipped when less than 70 % of it is free
            heuristic_score_thr=0.6,
            heuristic_overlap=0.3,
            stuff_area_limit=4096)))

# multi-scale + flip testing (`tools/test.py ... --tta`, with a config's
# tta_pipeline): semantic logits averaged over the views, detections of the
# test-scale view (PanopticTTAModel)
tta_model = dict(type='PanopticTTAModel')
