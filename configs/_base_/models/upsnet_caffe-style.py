# UPSNet as the official code (uber-research/UPSNet) builds it, to run its
# released weights converted by tools/model_converters/
# upsnet_to_mmpanoptic.py: the model overrides of the configs named
# upsnet_*-caffe_*, applied with `model = {{_base_.upsnet_caffe_style}}`
# (R50) or `{{_base_.upsnet_caffe_style_r101}}` (R101). Differences from the
# pytorch-style configs, all taken from the official code
# (upsnet/config/config.py, models/, operators/):
# - input: BGR, minus the Detectron pixel means, no std (use_caffe_model);
# - backbone: MSRA caffe-style ResNet (stride on the 1x1 conv), every BN
#   frozen (weights and statistics);
# - anchors and box deltas in the Detectron (+1) convention: mmdet's legacy
#   anchor generator (centres at (stride - 1) / 2) and legacy delta coder;
#   the sides of non-square anchors still differ by up to 4 % (e.g. 48 x 24
#   vs 46 x 22 at stride 4), as Detectron rounds them before scaling them
#   and mmdet after;
# - RoIAlign without the half-pixel shift, 2 x 2 samples per bin;
# - semantic head: the official deformable convs have a bias, mmcv's
#   DeformConv2d has none; a FrozenBN after each conv (identity statistics,
#   the official bias as its bias) adds it back exactly. It stays frozen if
#   such a config is fine-tuned.
# The P6 max-pool (mmdet FPN without extra convs), the res5 global context
# (COCO), the class-specific box regression and the test thresholds are
# already the pytorch-style configs'.
upsnet_caffe_style = dict(
    data_preprocessor=dict(
        mean=[102.9801, 115.9465, 122.7717],
        std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False),
    backbone=dict(
        style='caffe',
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron2/resnet50_caffe')),
    rpn_head=dict(
        anchor_generator=dict(type='LegacyAnchorGenerator', center_offset=0.5),
        bbox_coder=dict(type='LegacyDeltaXYWHBBoxCoder')),
    roi_head=dict(
        bbox_roi_extractor=dict(
            roi_layer=dict(sampling_ratio=2, aligned=False)),
        bbox_head=dict(bbox_coder=dict(type='LegacyDeltaXYWHBBoxCoder')),
        mask_roi_extractor=dict(
            roi_layer=dict(sampling_ratio=2, aligned=False))),
    semantic_head=dict(norm_cfg=dict(_delete_=True, type='FrozenBN')))
# the same with a ResNet-101 (MSRA caffe-style ImageNet initialisation)
upsnet_caffe_style_r101 = dict(
    upsnet_caffe_style,
    backbone=dict(
        upsnet_caffe_style['backbone'],
        depth=101,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron2/resnet101_caffe')))
