# Table 1 model C2: Mask R-CNN, no dense instance affinity, no panoptic
# matching loss (trained jointly); the dynamic potential (variant B, with
# masks) is the output (argmax).
_base_ = './unifying_r50_fpn_4xb8-65k_cityscapes.py'

model = dict(affinity_head=None, loss_panoptic=None)
