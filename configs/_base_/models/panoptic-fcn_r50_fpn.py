# Panoptic FCN R50-FPN model (COCO: 80 things, 53 stuff), model only, for
# configs that bring their own dataset and schedule. Values follow the
# official code (dvlab-research/PanopticFCN) except where a comment says
# otherwise.
num_things_classes, num_stuff_classes = 80, 53

model = dict(
    type='PanopticFCN',
    # mmdet's torchvision-style ResNet and normalisation; the official code
    # uses detectron2's MSRA (caffe) R-50 with mean-only normalisation in BGR.
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
        type='FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        start_level=0,
        # P6 = conv(P5 output), P7 = conv(ReLU(P6)): the official
        # LastLevelP6P7fromP5, here mmdet FPN's 'on_output' extra convs
        add_extra_convs='on_output',
        relu_before_extra_convs=True,
        num_outs=6,  # P2..P7
        # detectron2's c2_xavier_fill (Kaiming-uniform with a = 1, bias 0)
        # of the official FPN and P6/P7 convs
        init_cfg=dict(
            type='Kaiming',
            layer='Conv2d',
            a=1,
            mode='fan_in',
            nonlinearity='leaky_relu',
            distribution='uniform')),
    panoptic_head=dict(
        type='PanopticFCNHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        in_channels=256,
        kernel_levels=(1, 2, 3, 4, 5),  # P3..P7: kernel generator
        encoder_levels=(0, 1, 2, 3),  # P2..P5: semantic FPN
        position_head=dict(
            channels=256,
            num_convs=3,
            deformable=True,  # modulated deformable convs (Table 1)
            norm_cfg=dict(type='GN', num_groups=32, requires_grad=True)),
        kernel_head=dict(
            channels=256,
            num_convs=3,
            with_coordinates=True,
            norm_cfg=dict(type='GN', num_groups=32, requires_grad=True)),
        semantic_fpn=dict(
            channels=256,
            norm_cfg=dict(type='GN', num_groups=32, requires_grad=True)),
        feature_encoder=dict(
            channels=64, num_convs=3, with_coordinates=True,
            deformable=False),
        stuff_with_things=True,  # 53 stuff + "all things" = 54 channels
        instance_scales=((1, 64), (32, 128), (64, 256), (128, 512),
                         (256, 2048)),
        min_overlap=0.7,
        sigma_factor=3.0,
        num_weighted_kernels=7,
        loss_position=dict(
            type='mmdet.FocalLoss',
            use_sigmoid=True,
            alpha=0.25,
            gamma=2.0,
            reduction='none',
            loss_weight=1.0),  # lambda_pos
        loss_segment=dict(type='WeightedDiceLoss',
                          loss_weight=3.0)),  # lambda_seg (COCO)
    test_cfg=dict(
        center_top_k=50,
        center_score_thr=0.05,
        stuff_score_thr=0.05,
        similarity_thr=0.9,
        class_aware_fusion=True,
        max_things=100,
        mask_thr=0.4,
        thing_score_thr=0.05,
        panoptic_thing_score_thr=0.2,
        overlap_thr=0.5,
        stuff_area_limit=4096))
