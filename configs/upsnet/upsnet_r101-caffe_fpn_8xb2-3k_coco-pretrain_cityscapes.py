# UPSNet R101-FPN on Cityscapes pre-trained on COCO (paper Table 8,
# "UPSNet-101-M" without multi-scale testing) as the official code builds
# it (see ../_base_/models/upsnet_caffe-style.py) and as its
# upsnet_resnet101_cityscapes_w_coco_16gpu.yaml trains it: from the COCO
# model with the COCO -> Cityscapes class mapping of the official
# resnet_rcnn.load_state_dict, 3000 iterations, step at 2000, no warm-up.
#
# Run the released weights `upsnet_resnet_101_cityscapes_w_coco_3000.pth`:
#
#   python tools/model_converters/upsnet_to_mmpanoptic.py \
#       upsnet_resnet_101_cityscapes_w_coco_3000.pth upsnet_r101-city.pth
#   python tools/test.py \
#       configs/upsnet/upsnet_r101-caffe_fpn_8xb2-3k_coco-pretrain_cityscapes.py \
#       upsnet_r101-city.pth
#
# Fine-tune from the released COCO model
# `upsnet_resnet_101_coco_pretrained_for_cityscapes.pth`:
#
#   python tools/model_converters/upsnet_to_mmpanoptic.py \
#       --coco-to-cityscapes \
#       upsnet_resnet_101_coco_pretrained_for_cityscapes.pth coco-init.pth
#   python tools/train.py \
#       configs/upsnet/upsnet_r101-caffe_fpn_8xb2-3k_coco-pretrain_cityscapes.py \
#       --cfg-options load_from=coco-init.pth
_base_ = [
    './upsnet_r50_fpn_8xb2-12k_cityscapes.py',
    '../_base_/models/upsnet_caffe-style.py',
]

model = {{_base_.upsnet_caffe_style_r101}}

max_iters = 3000
train_cfg = dict(max_iters=max_iters, val_interval=1000)
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[2000],
        gamma=0.1)
]
default_hooks = dict(checkpoint=dict(interval=1000))
