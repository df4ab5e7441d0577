# Panoptic FCN-512 (paper Table 10): train short side 352..512 (long <= 854),
# test 512 (long <= 854); k = 3 weighted kernels and higher candidate
# thresholds as in the official 512 config.
_base_ = './panoptic-fcn_r50_fpn_8xb2-270k_coco.py'

model = dict(
    panoptic_head=dict(num_weighted_kernels=3),
    test_cfg=dict(center_score_thr=0.2, stuff_score_thr=0.1))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadPanopticAnnotations', backend_args={{_base_.backend_args}}),
    dict(
        type='RandomChoiceResize',
        scales=[(854, 352), (854, 384), (854, 416), (854, 448), (854, 480),
                (854, 512)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=(854, 512), keep_ratio=True),
    dict(type='LoadPanopticAnnotations', backend_args={{_base_.backend_args}}),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
