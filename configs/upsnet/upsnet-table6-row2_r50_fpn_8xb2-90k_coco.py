# UPSNet ablation, paper Table 6, second row (PQ 41.6): the third row
# without the instance class assignment: every instance keeps the class
# Mask R-CNN predicts (C_inst).
_base_ = './upsnet-table6-row3_r50_fpn_8xb2-90k_coco.py'

model = dict(test_cfg=dict(panoptic=dict(class_assignment=False)))
