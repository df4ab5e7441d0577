# UPSNet-M on Cityscapes (paper Table 3, "Ours-M"): semantic logits
# averaged over scales and flips; scales of the paper's supplementary (6.1):
# shorter edge 704..1344 in steps of 64 at a test scale of 1024, plus flips.
_base_ = './upsnet_r50_fpn_cityscapes.py'

model = dict(
    test_cfg=dict(
        semantic_tta=dict(
            scale_factors=tuple(s / 1024 for s in range(704, 1345, 64)),
            flip=True)))
