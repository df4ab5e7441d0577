# Table H, top row: the mask-free model with its panoptic submodule trained
# on the ground-truth boxes at a uniform score of 1.0 instead of the
# detections predicted on the fly (appendix A.4); inference unchanged.
_base_ = './unifying-nomask_r50_fpn_4xb8-65k_cityscapes.py'

model = dict(train_cfg=dict(panoptic=dict(detections='ground_truth')))
