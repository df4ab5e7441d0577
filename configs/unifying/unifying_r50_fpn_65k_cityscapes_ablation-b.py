# Table 1 model B: model A plus the dense instance affinity and the panoptic
# matching loss (end to end), argmax inference. The same model as
# unifying_r50_fpn_65k_cityscapes_nomask.py.
_base_ = './unifying_r50_fpn_65k_cityscapes_nomask.py'
