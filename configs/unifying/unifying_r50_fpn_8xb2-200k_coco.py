# The Unifying model (Li, Qi, Torr, CVPR 2020), R50-FPN with masks, COCO
# panoptic (Sec. 4 and appendix B): loss weights det/sem/pan 1.0/0.2/0.1
# (in the model base), 200k iterations at lr 0.02 (x0.1 at 150k and 190k),
# batch 16, shorter side 800 (max 1333) with random flips, potential variant
# C, detection cut-off 0.75 at inference, stuff below 4096 px -> VOID.
# Warm-up: 500 iterations from lr / 3, as Panoptic FPN ([13]).
_base_ = [
    '../_base_/models/unifying_r50_fpn.py',
    '../_base_/datasets/coco_panoptic.py',
    '../_base_/default_runtime.py',
]

max_iters = 200000
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=20000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1 / 3, by_epoch=False, begin=0,
        end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[150000, 190000],
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001))
# 8 GPUs x 2 images
train_dataloader = dict(batch_size=2, sampler=dict(type='InfiniteSampler'))
auto_scale_lr = dict(enable=False, base_batch_size=16)
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=20000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
