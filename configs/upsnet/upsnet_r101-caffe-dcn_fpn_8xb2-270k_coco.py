# UPSNet R101-FPN with deformable res3-res5 on COCO as the official code
# builds it (see ../_base_/models/upsnet_caffe-style.py), to run its released
# weights `upsnet_resnet_101_dcn_coco_270000.pth`:
#
#   python tools/model_converters/upsnet_to_mmpanoptic.py \
#       upsnet_resnet_101_dcn_coco_270000.pth upsnet_r101-caffe-dcn.pth
#   python tools/test.py configs/upsnet/upsnet_r101-caffe-dcn_fpn_8xb2-270k_coco.py \
#       upsnet_r101-caffe-dcn.pth
_base_ = [
    './upsnet_r101-dcn_fpn_8xb2-270k_coco.py',
    '../_base_/models/upsnet_caffe-style.py',
]

model = {{_base_.upsnet_caffe_style_r101}}
