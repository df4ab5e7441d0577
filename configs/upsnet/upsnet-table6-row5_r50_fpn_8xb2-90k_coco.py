# UPSNet ablation, paper Table 6, fifth row (PQ 42.3 in the paper): the full
# model without the unknown class, in training (no instance is left out,
# thing pixels of no instance such as crowd regions are ignored) and at
# inference (no Z_unknown channel), as the official code with
# panoptic_box_keep_fraction 1. Each earlier row inherits the next one.
_base_ = './upsnet_r50_fpn_8xb2-90k_coco.py'

model = dict(
    panoptic_fusion_head=dict(unknown_fraction=0.0, with_unknown=False))
