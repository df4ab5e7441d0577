# UPSNet ablation, paper Table 6, third row (PQ 41.7): the fourth row
# without loss balance (paper 4.5: semantic and panoptic losses both at
# 0.1, the others at 1.0; with it, semantic 0.2).
_base_ = './upsnet-table6-row4_r50_fpn_8xb2-90k_coco.py'

model = dict(
    semantic_head=dict(loss_seg=dict(loss_weight=0.1)),
    panoptic_fusion_head=dict(loss_panoptic=dict(loss_weight=0.1)))
