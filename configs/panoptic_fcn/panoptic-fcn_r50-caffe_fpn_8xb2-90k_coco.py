# Panoptic FCN R50-FPN 1x with the official backbone and input: detectron2's
# MSRA (caffe-style) ResNet-50 with frozen BN, BGR input and the official
# normalisation. Use it to test weights converted from the official
# checkpoints (dvlab-research/PanopticFCN) or to train like the official
# code. The head, FPN, schedule and pipelines are those of
# panoptic-fcn_r50_fpn_8xb2-90k_coco.py.
#
# Convert and test the official R50 1x checkpoint (the official 3x, 400,
# 512 and 600 models have the same keys and convert the same way; test them
# with their own configs given this config's data_preprocessor and
# backbone):
#   python tools/model_converters/panoptic_fcn_to_mmpanoptic.py \
#       PanopticFCN-R50-1x.pth panoptic-fcn_r50-caffe_fpn_8xb2-90k_coco.pth
#   python tools/test.py \
#       configs/panoptic_fcn/panoptic-fcn_r50-caffe_fpn_8xb2-90k_coco.py \
#       panoptic-fcn_r50-caffe_fpn_8xb2-90k_coco.pth
_base_ = './panoptic-fcn_r50_fpn_8xb2-90k_coco.py'

model = dict(
    # The official PIXEL_MEAN [123.675, 116.28, 103.53] is subtracted from
    # detectron2's BGR input channel by channel (an RGB mean in BGR order)
    # and PIXEL_STD is 1: reproduced as is, the converted weights expect it.
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False),
    backbone=dict(
        # FrozenBN; stem and res2 frozen (FREEZE_AT 2 = frozen_stages 1)
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='caffe',  # stride in the first 1x1 conv (STRIDE_IN_1X1)
        # detectron2's ImageNet R-50 (MSRA), the official initialisation
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron2/resnet50_caffe')))
