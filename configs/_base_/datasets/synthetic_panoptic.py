# The embedded synthetic dataset (mmpanoptic/datasets/synthetic_generator.py):
# COCO panoptic files, written under `data_root` on first use, deterministic.
dataset_type = 'SyntheticPanopticDataset'
data_root = 'data/synthetic_panoptic/'
synthetic_generator = dict(
    splits=dict(train=200, val=50), height=128, width=128, seed=0)
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadPanopticAnnotations', backend_args=backend_args),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    # identity resize: records scale_factor, which mask pasting needs
    dict(type='Resize', scale_factor=1.0, keep_ratio=True),
    dict(type='LoadPanopticAnnotations', backend_args=backend_args),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]

train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        generator=synthetic_generator,
        ann_file='annotations/panoptic_train.json',
        data_prefix=dict(img='train/', seg='annotations/panoptic_train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        generator=synthetic_generator,
        ann_file='annotations/panoptic_val.json',
        data_prefix=dict(img='val/', seg='annotations/panoptic_val/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# mmpanoptic's in-memory PQ (equal to panopticapi; mmdet's metric names,
# coco_panoptic/PQ ...); mIoU too when a model returns pred_sem_seg.
val_evaluator = dict(
    type='PanopticMetric',
    ann_file=data_root + 'annotations/panoptic_val.json',
    seg_prefix=data_root + 'annotations/panoptic_val/',
    backend_args=backend_args)
test_evaluator = val_evaluator

# test-time augmentation views (`tools/test.py ... --tta`, for models with a
# tta_model): scales 0.75 / 1 / 1.25, each unflipped and flipped
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='Resize', scale_factor=factor, keep_ratio=True)
                for factor in (0.75, 1.0, 1.25)
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
