# UPSNet R50-FPN on COCO panoptic (paper 4.1, Table 1): 16 images per batch
# (8 GPUs x 2), lr 0.02, wd 1e-4, 90k iterations with steps at 60k/80k,
# linear warm-up over 1500 iterations from 0.1 x lr, train scale 800 (max
# 1333), loss weights semantic 0.2 / RoI 0.04 / panoptic 0.1 (model base).
_base_ = [
    '../_base_/models/upsnet_r50_fpn.py',
    '../_base_/datasets/coco_panoptic.py',
    '../_base_/default_runtime.py',
]

max_iters = 90000
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10000)
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
        milestones=[60000, 80000],
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4))
auto_scale_lr = dict(enable=False, base_batch_size=16)

train_dataloader = dict(batch_size=2, sampler=dict(type='InfiniteSampler'))
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=10000))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)

# binary masks in pred_instances (the standard detections): mask and box AP
# of mmdet's CocoMetric in the same test run as PQ and mIoU
model = dict(test_cfg=dict(panoptic=dict(with_instance_masks=True)))
