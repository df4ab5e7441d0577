# UPSNet R50-FPN on Cityscapes as the official code builds it (see
# ../_base_/models/upsnet_caffe-style.py; no res5 context, 2 deformable
# layers), to run its released weights `upsnet_resnet_50_cityscapes_12000.pth`:
#
#   python tools/model_converters/upsnet_to_mmpanoptic.py \
#       upsnet_resnet_50_cityscapes_12000.pth upsnet_r50-caffe_cityscapes.pth
#   python tools/test.py configs/upsnet/upsnet_r50-caffe_fpn_8xb2-12k_cityscapes.py \
#       upsnet_r50-caffe_cityscapes.pth
_base_ = [
    './upsnet_r50_fpn_8xb2-12k_cityscapes.py',
    '../_base_/models/upsnet_caffe-style.py',
]

model = {{_base_.upsnet_caffe_style}}
