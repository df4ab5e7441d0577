# AUNet R50-FPN model (Li et al., CVPR 2019), COCO setting: FG branch Mask
# R-CNN (mmdet modules; GN in the RPN conv, the box head and the mask head:
# "GN is added to all of the branches", sec. 3.4), BG branch
# AUNetSemanticHead with PAM + MAM + background reweight (GN), all things as
# one BG class, joint loss eq. (7) with lambdas {1, 1, 1, 0.3}. Model-only
# base: the runnable configs add dataset and schedule.
norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
num_things_classes = 80
num_stuff_classes = 53
_base_ = './two-stage_train-test-cfg.py'

model = dict(
    type='AUNet',
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
        # sec. 3.4: BN of the ImageNet backbone is fixed
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(
        type='FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        num_outs=5),
    rpn_head=dict(
        type='NormRPNHead',
        in_channels=256,
        feat_channels=256,  # C_r of PAM
        norm_cfg=norm_cfg,
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
        # GN in the box head: mmdet's GN box head of Mask R-CNN (4 convs +
        # 1 fc, configs/gn/mask-rcnn_r50_fpn_gn-all_2x_coco.py)
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            in_channels=256,
            conv_out_channels=256,
            fc_out_channels=1024,
            norm_cfg=norm_cfg,
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
            conv_out_channels=256,  # C_m of MAM
            num_classes=num_things_classes,
            norm_cfg=norm_cfg,
            loss_mask=dict(
                type='CrossEntropyLoss', use_mask=True, loss_weight=1.0))),
    semantic_head=dict(
        type='AUNetSemanticHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        things_as_one_class=True,  # COCO: all things one BG class
        in_channels=256,
        feat_channels=128,  # C_s (not given in the paper)
        num_levels=4,
        use_pam=True,
        use_mam=True,
        # one MAM on the merged map: sec. 3.2 writes S_pam (x) P_roi with no
        # scale index (PAM: S_i (x) P_i in each scale), and MAM's FG map is
        # "aggregated together" to W' x H' (Fig. 5's upsample arrows)
        mam_position='merged',
        use_reweight=True,
        rpn_channels=256,
        mask_channels=256,
        norm_cfg=norm_cfg,
        # averaged over the non-ignored pixels: VOID and padding do not
        # dilute lambda_4
        loss_seg=dict(
            type='CrossEntropyLoss',
            ignore_index=255,
            avg_non_ignore=True,
            loss_weight=1.0)),
    # the 28 x 28 mask features (+0.1 PQ over 14 x 14 in sec. 4.2.3)
    mask_feature_size=28,
    loss_weights=dict(rpn=1.0, rcnn=1.0, mask=1.0, seg=0.3),  # eq. (7)
    panoptic_fusion_head=dict(
        type='AUNetFusionHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        things_as_one_class=True),
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
        # the FG branch "following Mask R-CNN" (sec. 3.4): per-class NMS,
        # score 0.05, 100 detections (pred_instances, mask/box AP)
        rcnn=dict(
            score_thr=0.05,
            nms=dict(type='nms', iou_threshold=0.5),
            max_per_img=100,
            mask_thr_binary=0.5),
        panoptic=dict(
            # the instances laid by the fusion and seen by MAM: Kirillov et
            # al.'s procedure drops low-scoring instances; 0.5 is its
            # reference implementation's value (detectron2 Panoptic FPN)
            score_thr=0.5,
            mask_overlap=0.5,
            stuff_area_limit=4096,
            # sec. 3.4: "ties should not be overlapped by person";
            # COCO thing labels (mmdet order): person 0, tie 27
            category_relations=[(27, 0)])))

# multi-scale + flip testing (`tools/test.py ... --tta`, with a config's
# tta_pipeline): semantic logits averaged over the views, detections of the
# test-scale view (PanopticTTAModel)
tta_model = dict(type='PanopticTTAModel')
