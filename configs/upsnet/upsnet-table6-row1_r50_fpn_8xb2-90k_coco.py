# UPSNet ablation, paper Table 6, first row (PQ 41.2): the second row
# trained without the panoptic loss (semantic and instance heads only) and
# still evaluated with the panoptic head (paper 4.5, "Panoptic Head"). Not
# UPSNet-C of Table 7, which combines by the heuristic of Kirillov et al.
# (upsnet-c_r50_fpn_8xb2-90k_coco.py).
_base_ = './upsnet-table6-row2_r50_fpn_8xb2-90k_coco.py'

model = dict(panoptic_fusion_head=dict(loss_panoptic=None))
