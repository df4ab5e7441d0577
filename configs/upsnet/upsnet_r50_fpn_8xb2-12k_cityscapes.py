# UPSNet R50-FPN on Cityscapes panoptic (paper 4.2, Table 3): 8 things +
# 11 stuff, 2 deformable layers in the semantic head, no res5 context
# (COCO only), loss weights semantic 1.0 / RoI 0.2 / panoptic 0.5, 16
# images per batch (8 GPUs x 2), lr 0.02, 12k iterations with a step at 9k,
# multi-scale training (short side 800..1024, max 2048), test at 1024,
# stuff segments below 2048 px become VOID.
_base_ = [
    '../_base_/models/upsnet_r50_fpn.py',
    '../_base_/datasets/cityscapes_panoptic.py',
    '../_base_/default_runtime.py',
]
num_things_classes, num_stuff_classes = 8, 11

model = dict(
    neck=dict(type='FPN'),
    roi_head=dict(
        bbox_head=dict(num_classes=num_things_classes),
        mask_head=dict(num_classes=num_things_classes)),
    semantic_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        num_convs=2,
        loss_seg=dict(loss_weight=1.0),
        loss_roi=dict(loss_weight=0.2)),
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        loss_panoptic=dict(loss_weight=0.5)),
    # pred_instances with binary masks (instance AP next to PQ and mIoU)
    test_cfg=dict(
        panoptic=dict(stuff_area_limit=2048, with_instance_masks=True)))

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadPanopticAnnotations', backend_args=backend_args),
    dict(
        type='RandomChoiceResize',
        scales=[(2048, short) for short in range(800, 1025, 32)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    dict(type='LoadPanopticAnnotations', backend_args=backend_args),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=2,
    sampler=dict(type='InfiniteSampler'),
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 12000
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
        end=1500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[9000],
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4))
auto_scale_lr = dict(enable=False, base_batch_size=16)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=4000))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)
