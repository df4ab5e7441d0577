# The Unifying model (Li, Qi, Torr, CVPR 2020) with an R50-FPN, model only:
# SE step on C5 before the FPN, UPSNet's semantic head with GN, Mask R-CNN
# (mask head trained with the Lovasz hinge), dynamic potential, dense
# instance affinity (C = 128) and the panoptic matching loss. Values are the
# paper's COCO settings (loss weights det/sem/pan 1.0/0.2/0.1, potential
# variant C, detection cut-off 0.75); the Cityscapes configs override them.
# Written in full (not inherited from mmdet's Mask R-CNN base) so that its
# type names resolve in mmpanoptic's scope.
num_things_classes, num_stuff_classes = 80, 53
det_loss_weight = 1.0
norm_gn = dict(type='GN', num_groups=32, requires_grad=True)
semantic_decoder = dict(
    type='UPSNetSemanticHead',
    in_channels=256,
    feat_channels=256,
    out_channels=128,
    num_convs=3,  # UPSNet: 3 for COCO, 2 for Cityscapes
    deformable=True,
    norm_cfg=norm_gn)

_base_ = './two-stage_train-test-cfg.py'

model = dict(
    type='UnifyingPanopticSegmentor',
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
        norm_eval=True,  # appendix B: BN statistics kept unchanged
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(
        type='SEFPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        num_outs=5,
        se_ratio=16),
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
            type='CrossEntropyLoss',
            use_sigmoid=True,
            loss_weight=det_loss_weight),
        loss_bbox=dict(type='L1Loss', loss_weight=det_loss_weight)),
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
                type='CrossEntropyLoss',
                use_sigmoid=False,
                loss_weight=det_loss_weight),
            loss_bbox=dict(type='L1Loss', loss_weight=det_loss_weight)),
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
            # appendix A.2: Lovasz hinge instead of binary cross-entropy
            loss_mask=dict(
                type='RoIMaskLovaszHingeLoss',
                loss_weight=det_loss_weight))),
    semantic_head=dict(
        semantic_decoder,
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        loss_seg=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            ignore_index=255,
            avg_non_ignore=True,
            loss_weight=0.2),
        loss_roi=None),
    potential_head=dict(
        type='DynamicPotentialHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        # appendix A.3: C on COCO, B on Cityscapes. C is s (V + M): the
        # score attenuates unconfident detections (Sec. 3.4.1), mask
        # included ('C-unscaled-mask' is s V + M)
        variant='C'),
    panoptic_fusion_head=dict(
        type='UnifyingPanopticHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes),
    affinity_head=dict(
        type='DenseAffinityHead',
        affinity_channels=128,
        decoder=semantic_decoder),
    loss_panoptic=dict(
        type='PanopticMatchingLoss', iou_thr=0.5, loss_weight=0.1),
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
            debug=False),
        # predicted detections fed to the panoptic submodule in training
        # (appendix A.4); the paper gives no training cut-off, we use the
        # inference one so that both see the same kind of detections
        panoptic=dict(
            score_thr=0.75,
            nms=dict(type='nms', iou_threshold=0.5),
            max_per_img=100)),
    test_cfg=dict(
        rcnn=dict(
            score_thr=0.05,
            nms=dict(type='nms', iou_threshold=0.5),
            max_per_img=100,
            mask_thr_binary=0.5),
        panoptic=dict(
            inference='argmax',
            score_thr=0.75,  # appendix B: 0.75 COCO, 0.5 Cityscapes
            stuff_area_limit=4096,  # appendix C (UPSNet: COCO 4096)
            mask_overlap=0.5)))  # used by inference='heuristic' only
