# UPSNet-C (paper Table 7, supplementary 6.2): semantic and instance heads
# trained without the panoptic head; at test time the heuristic combination
# of Kirillov et al. on the standard detections, as the official code does
# (scores >= 0.6, a mask skipped when less than 70 % of it is free; model
# base). Table 6's first row is another model: the same training, evaluated
# with the panoptic head (upsnet-table6-row1_r50_fpn_8xb2-90k_coco.py).
_base_ = './upsnet_r50_fpn_8xb2-90k_coco.py'

model = dict(
    panoptic_fusion_head=dict(loss_panoptic=None),
    test_cfg=dict(panoptic=dict(fusion='heuristic')))
