# UPSNet-M on Cityscapes (paper Table 3, "Ours-M"): semantic logits averaged
# over scales and flips, detections at the test scale (PanopticTTAModel, run
# with `tools/test.py CONFIG CKPT --tta`). Scales of the paper's
# supplementary (6.1): shorter edge 704..1344 in steps of 64 at a test scale
# of 1024, plus flips.
_base_ = './upsnet_r50_fpn_8xb2-12k_cityscapes.py'

tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='Resize', scale=(2 * short, short), keep_ratio=True)
                for short in range(704, 1345, 64)
            ],
            [
                dict(type='RandomFlip', prob=0.),
                dict(type='RandomFlip', prob=1.)
            ],
            [dict(type='LoadPanopticAnnotations', backend_args=None)],
            [
                dict(
                    type='PackDetInputs',
                    meta_keys=('img_id', 'img_path', 'ori_shape',
                               'img_shape', 'scale_factor', 'flip',
                               'flip_direction'))
            ]
        ])
]
