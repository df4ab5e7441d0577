# UPSNet-M (paper Table 1, "Ours-M"): the semantic head's logits averaged
# over input scales and horizontal flips, the instance head at the single
# training scale. Implemented as the detector option
# test_cfg.semantic_tta (mmengine's TTA wrapper merges final predictions,
# which cannot average logits before the parameter-free panoptic head).
# Scales of the paper's supplementary (6.1): shorter edge 480..1120 in
# steps of 64 at a test scale of 800, i.e. factors 0.6..1.4, plus flips.
_base_ = './upsnet_r50_fpn_1x_coco.py'

model = dict(
    test_cfg=dict(
        semantic_tta=dict(
            scale_factors=tuple(s / 800 for s in range(480, 1121, 64)),
            flip=True)))
