# UPSNet ablation, paper Table 6, fourth row (PQ 42.3): the fifth row
# without the semantic head's RoI loss.
_base_ = './upsnet-table6-row5_r50_fpn_8xb2-90k_coco.py'

model = dict(semantic_head=dict(loss_roi=None))
