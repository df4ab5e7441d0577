# UPSNet-C (paper Table 6, first row): semantic and instance heads trained
# without the panoptic head; the heuristic combination of Kirillov et al.
# at test time.
_base_ = './upsnet_r50_fpn_1x_coco.py'

model = dict(
    panoptic_fusion_head=dict(loss_panoptic=None),
    test_cfg=dict(panoptic=dict(fusion='heuristic', heuristic_overlap=0.5)))
