# UPSNet R50-FPN on COCO as the official code builds it (see
# ../_base_/models/upsnet_caffe-style.py), to run its released weights
# `upsnet_resnet_50_coco_90000.pth`:
#
#   python tools/model_converters/upsnet_to_mmpanoptic.py \
#       upsnet_resnet_50_coco_90000.pth upsnet_r50-caffe_fpn_8xb2-90k_coco.pth
#   python tools/test.py configs/upsnet/upsnet_r50-caffe_fpn_8xb2-90k_coco.py \
#       upsnet_r50-caffe_fpn_8xb2-90k_coco.pth
_base_ = [
    './upsnet_r50_fpn_8xb2-90k_coco.py',
    '../_base_/models/upsnet_caffe-style.py',
]

model = {{_base_.upsnet_caffe_style}}
