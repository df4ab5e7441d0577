# The Unifying model without object masks (Table 1 model B, Table 2
# "Ours (w/o mask)"): Faster R-CNN boxes only; without masks the potential
# variants B and C coincide (eq. (1)).
_base_ = './unifying_r50_fpn_65k_cityscapes.py'

model = dict(roi_head=dict(mask_roi_extractor=None, mask_head=None))
