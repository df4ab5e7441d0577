# AUNet R50-FPN on COCO panoptic, the training setting of sec. 3.4: SGD lr
# 0.02, momentum 0.9, weight decay 4e-5, 16 images per batch (2 per GPU x 8),
# 18 epochs, horizontal flip, short edge 600. The paper says "0.02 for the
# first 13 epochs and divided by 10 at 15-th and 18-th epoch": read here as
# steps after epochs 13 and 15 of 18 (the "1x" of the file names).
# Loss weights {1, 1, 1, 0.3}; category relation: a tie is never covered by a
# person.
_base_ = [
    '../_base_/models/aunet_r50_fpn.py',
    '../_base_/datasets/coco_panoptic.py',
    '../_base_/default_runtime.py',
]
backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadPanopticAnnotations', backend_args=backend_args),
    dict(type='Resize', scale=(1000, 600), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(1000, 600), keep_ratio=True),
    dict(type='LoadPanopticAnnotations', backend_args=backend_args),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# Multi-scale + flip testing of the final results (sec. 3.4; `tools/test.py
# CONFIG CKPT --tta`, PanopticTTAModel of the model base: BG logits averaged
# over the views, detections from the unflipped 600 view). The paper names
# no scales: these are UPSNet-M's (shorter edge 0.6x..1.4x of the test scale
# in 11 steps, plus flips) at AUNet's test scale 600, the long-edge limit
# scaled with it. The Table 1 configs inherit it; the paper tests them at
# the single scale.
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(
                    type='Resize',
                    scale=(round(short * 1000 / 600), short),
                    keep_ratio=True) for short in range(360, 841, 48)
            ],
            [
                dict(type='RandomFlip', prob=0.),
                dict(type='RandomFlip', prob=1.)
            ],
            [dict(type='LoadPanopticAnnotations', backend_args=backend_args)],
            [
                dict(
                    type='PackDetInputs',
                    meta_keys=('img_id', 'img_path', 'ori_shape',
                               'img_shape', 'scale_factor', 'flip',
                               'flip_direction'))
            ]
        ])
]

max_epochs = 18
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[13, 15],
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=4e-5))
# 8 GPUs x 2 images
auto_scale_lr = dict(enable=False, base_batch_size=16)
