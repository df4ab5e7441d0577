# The Unifying model (Li, Qi, Torr, CVPR 2020), R50-FPN with masks, on
# Cityscapes fine (Table 1 model D2 / Table 2 "Ours (w/ mask)"): loss weights
# det/sem/pan 0.25/1.0/1.0, Lovasz softmax for the semantic submodule,
# potential variant B, detection cut-off 0.5, stuff below 2048 px -> VOID.
# Schedule of appendix B: batch 32 (4 GPUs x 8 crops), lr 0.01, wd 1e-4,
# 65k iterations, x0.1 after 40k and after 55k, warm-up 500 iterations from
# lr / 3; resize x0.5..2, 512 x 1024 crops, flips, photometric jitter.
_base_ = [
    '../_base_/models/unifying_r50_fpn.py',
    '../_base_/datasets/cityscapes_panoptic.py',
    '../_base_/default_runtime.py',
]
num_things_classes, num_stuff_classes = 8, 11
det_loss_weight = 0.25

model = dict(
    rpn_head=dict(
        loss_cls=dict(loss_weight=det_loss_weight),
        loss_bbox=dict(loss_weight=det_loss_weight)),
    roi_head=dict(
        bbox_head=dict(
            num_classes=num_things_classes,
            loss_cls=dict(loss_weight=det_loss_weight),
            loss_bbox=dict(loss_weight=det_loss_weight)),
        mask_head=dict(
            num_classes=num_things_classes,
            loss_mask=dict(loss_weight=det_loss_weight))),
    semantic_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        num_convs=2,  # UPSNet's Cityscapes head
        loss_seg=dict(
            _delete_=True,
            type='mmseg.LovaszLoss',
            loss_type='multi_class',
            per_image=False,
            reduction='none',
            loss_weight=1.0)),
    potential_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        variant='B'),
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes),
    affinity_head=dict(decoder=dict(num_convs=2)),
    loss_panoptic=dict(loss_weight=1.0),
    train_cfg=dict(panoptic=dict(score_thr=0.5)),
    test_cfg=dict(panoptic=dict(score_thr=0.5, stuff_area_limit=2048)))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadPanopticAnnotations', backend_args=None),
    dict(
        type='RandomResize',
        scale=(2048, 1024),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_size=(1024, 512),  # (w, h): 512x1024 crops
        crop_type='absolute',
        recompute_bbox=True,
        allow_negative_crop=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackDetInputs')
]
# 4 GPUs x 8 crops
train_dataloader = dict(
    batch_size=8,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
auto_scale_lr = dict(enable=False, base_batch_size=32)

max_iters = 65000
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1 / 3, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[40000, 55000],
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=5000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
