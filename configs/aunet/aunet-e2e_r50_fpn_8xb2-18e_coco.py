# Table 1, row "e2e": unified network (shared backbone, joint loss), no PAM,
# no MAM, no reweight.
_base_ = './aunet-table1_r50_fpn_8xb2-18e_coco.py'
model = dict(
    semantic_head=dict(use_pam=False, use_mam=False, use_reweight=False))
