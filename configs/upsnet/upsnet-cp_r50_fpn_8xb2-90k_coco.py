# UPSNet-CP (paper Table 7): trained with the panoptic head (its loss
# improves the shared features), but combined by the heuristic of Kirillov
# et al. at test time, as UPSNet-C.
_base_ = './upsnet_r50_fpn_8xb2-90k_coco.py'

model = dict(test_cfg=dict(panoptic=dict(fusion='heuristic')))
