# Panoptic FCN R50-FPN on Cityscapes (paper Sec. 4.1 and App. A.2): Cityscapes
# scale ranges, cosine fusion threshold 0.95, 200 kept things, mask threshold
# 0.5, lambda_seg 4, 512x1024 crops of images rescaled 0.5-2.0x, 65k
# iterations at batch 32 with lr 0.02 (poly). The official code has no
# Cityscapes config: where the paper is silent, the official COCO settings
# (warm-up, gradient value clipping, weight decay, inference thresholds);
# the stuff area limit 2048 is the Cityscapes value used by UPSNet for every
# compared method.
_base_ = [
    '../_base_/models/panoptic-fcn_r50_fpn.py',
    '../_base_/datasets/cityscapes_panoptic.py',
    '../_base_/default_runtime.py',
]
num_things_classes, num_stuff_classes = 8, 11

model = dict(
    panoptic_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        instance_scales=((1, 128), (64, 256), (128, 512), (256, 1024),
                         (512, 2048)),
        loss_segment=dict(type='WeightedDiceLoss', loss_weight=4.0)),
    test_cfg=dict(
        center_top_k=100,  # 200 kept things, half per level as for COCO
        similarity_thr=0.95,
        max_things=200,
        mask_thr=0.5,
        stuff_area_limit=2048))

# 32 images per iteration (8 GPUs x 4)
train_dataloader = dict(
    batch_size=4, sampler=dict(type='InfiniteSampler', shuffle=True))

max_iters = 65000
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0.0),
    clip_grad=dict(type='value', clip_value=35))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        by_epoch=False,
        begin=0,
        end=max_iters)
]
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000))
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(enable=False, base_batch_size=32)
