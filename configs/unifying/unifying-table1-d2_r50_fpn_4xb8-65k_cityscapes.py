# Table 1 model D2: Mask R-CNN, dense instance affinity, panoptic matching
# loss, argmax inference: the full model, the same as
# unifying_r50_fpn_4xb8-65k_cityscapes.py.
_base_ = './unifying_r50_fpn_4xb8-65k_cityscapes.py'
