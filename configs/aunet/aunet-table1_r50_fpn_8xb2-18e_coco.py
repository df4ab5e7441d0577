# Table 1, row "AUNet" (PAM + MAM + reweight): component analysis setting,
# fusion by the plain heuristic of Kirillov et al. (no category relations).
_base_ = './aunet_r50_fpn_8xb2-18e_coco.py'
model = dict(test_cfg=dict(panoptic=dict(category_relations=[])))
