# UPSNet-M (paper Table 1, "Ours-M"): the semantic head's logits averaged
# over input scales and horizontal flips, the instance head at the single
# test scale, then the parameter-free panoptic head (PanopticTTAModel;
# mmengine's TTA mechanism, run with `tools/test.py CONFIG CKPT --tta`).
# Scales of the paper's supplementary (6.1): shorter edge 480..1120 in steps
# of 64 (the long-edge limit scales with it, 1333 at 800), plus flips. The
# detections come from the unflipped 800 view, the median of the scales.
_base_ = './upsnet_r50_fpn_8xb2-90k_coco.py'

tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(
                    type='Resize',
                    scale=(round(short * 1333 / 800), short),
                    keep_ratio=True) for short in range(480, 1121, 64)
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
