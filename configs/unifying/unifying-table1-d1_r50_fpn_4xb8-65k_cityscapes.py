# Table 1 model D1: the full model (D2, trained end to end with the panoptic
# matching loss) tested with the heuristic merger instead of the argmax.
_base_ = './unifying_r50_fpn_4xb8-65k_cityscapes.py'

model = dict(
    test_cfg=dict(panoptic=dict(inference='heuristic', mask_overlap=0.5)))
