# Table 1 model A: Faster R-CNN boxes, no dense instance affinity, no
# panoptic matching loss; the dynamic potential is the output (argmax).
_base_ = './unifying-nomask_r50_fpn_4xb8-65k_cityscapes.py'

model = dict(affinity_head=None, loss_panoptic=None)
