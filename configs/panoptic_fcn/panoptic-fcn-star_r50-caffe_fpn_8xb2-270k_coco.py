# Panoptic FCN* (deformable 256-channel feature encoder, paper Table 8), 3x,
# with the official backbone and input as in
# panoptic-fcn_r50-caffe_fpn_8xb2-90k_coco.py: for weights converted from the
# official PanopticFCN-Star-R50-3x checkpoint
#   python tools/model_converters/panoptic_fcn_to_mmpanoptic.py \
#       PanopticFCN-Star-R50-3x.pth panoptic-fcn-star_r50-caffe_fpn_8xb2-270k_coco.pth
#   python tools/test.py \
#       configs/panoptic_fcn/panoptic-fcn-star_r50-caffe_fpn_8xb2-270k_coco.py \
#       panoptic-fcn-star_r50-caffe_fpn_8xb2-270k_coco.pth
_base_ = './panoptic-fcn-star_r50_fpn_8xb2-270k_coco.py'

model = dict(
    # official BGR input, mean [123.675, 116.28, 103.53] in that order, std 1
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False),
    backbone=dict(
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='caffe',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron2/resnet50_caffe')))
