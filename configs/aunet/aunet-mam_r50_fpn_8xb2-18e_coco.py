# Table 1, row "MAM": Mask Attention Module without the background reweight;
# no PAM.
_base_ = './aunet-table1_r50_fpn_8xb2-18e_coco.py'
model = dict(
    semantic_head=dict(use_pam=False, use_mam=True, use_reweight=False))
