# Table 1 model B: model A plus the dense instance affinity and the panoptic
# matching loss (end to end), argmax inference. The same model as
# unifying-nomask_r50_fpn_4xb8-65k_cityscapes.py.
_base_ = './unifying-nomask_r50_fpn_4xb8-65k_cityscapes.py'
