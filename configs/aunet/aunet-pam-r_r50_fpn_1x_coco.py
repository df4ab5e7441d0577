# Table 1, row "PAM_r": Proposal Attention Module with the background
# reweight; no MAM.
_base_ = './aunet-table1_r50_fpn_1x_coco.py'
model = dict(
    semantic_head=dict(use_pam=True, use_mam=False, use_reweight=True))
