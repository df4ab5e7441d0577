# Table 1, row "PAM": Proposal Attention Module without the background
# reweight; no MAM.
_base_ = './aunet-table1_r50_fpn_8xb2-18e_coco.py'
model = dict(
    semantic_head=dict(use_pam=True, use_mam=False, use_reweight=False))
