# UPSNet R101-FPN with deformable convs in res3-res5 (the COCO test-dev
# entry of paper Table 2), as the official
# upsnet/experiments/upsnet_resnet101_dcn_coco_3x_16gpu.yaml (the paper
# gives no schedule for this model): multi-scale training, shorter side
# 640..832 in steps of 32 (longer side at most 1333), 270k iterations with
# steps at 210k/250k.
_base_ = './upsnet_r50_fpn_8xb2-90k_coco.py'

max_iters = 270000
model = dict(
    backbone=dict(
        depth=101,
        # mmcv's DCN (its kernel on CUDA, grid-sample on CPU)
        dcn=dict(
            type='DCNGridSample', deform_groups=1, fallback_on_stride=False),
        stage_with_dcn=(False, True, True, True),
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet101')))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadPanopticAnnotations', backend_args=None),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, short) for short in range(640, 833, 32)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

train_cfg = dict(max_iters=max_iters, val_interval=30000)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
        end=1500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[210000, 250000],
        gamma=0.1)
]
