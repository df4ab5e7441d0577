# Table 1 model C1: the model C2, tested with the heuristic merger of
# Kirillov et al. (mmdet's HeuristicFusionHead: masks pasted by score,
# overlap > 0.5 skipped, stuff from the semantic argmax, small stuff VOID).
_base_ = './unifying-table1-c2_r50_fpn_4xb8-65k_cityscapes.py'

model = dict(
    test_cfg=dict(panoptic=dict(inference='heuristic', mask_overlap=0.5)))
