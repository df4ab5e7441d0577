# "Ours_equ" of Table 3: the COCO strategy on Cityscapes, all things one
# class in the BG branch (stuff + 1 = 12 BG classes).
_base_ = './aunet_r50_fpn_8xb2-100e_cityscapes.py'
model = dict(
    semantic_head=dict(things_as_one_class=True),
    panoptic_fusion_head=dict(things_as_one_class=True))
