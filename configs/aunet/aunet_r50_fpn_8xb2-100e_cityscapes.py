# AUNet R50-FPN on Cityscapes panoptic (sec. 3.4 / 4.3): MAM disabled, all 19
# classes in the BG branch, loss weights {1, 0.75, 1, 1}; SGD lr 0.01 for 100
# epochs, divided by 10 at epochs 68 and 88; 16 random 512x1024 crops per
# batch (2 per GPU x 8) after flip and 0.5-2.0x scaling (dataset base).
_base_ = [
    '../_base_/models/aunet_r50_fpn.py',
    '../_base_/datasets/cityscapes_panoptic.py',
    '../_base_/default_runtime.py',
]
num_things_classes, num_stuff_classes = 8, 11
model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=num_things_classes),
        mask_head=dict(num_classes=num_things_classes)),
    semantic_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        things_as_one_class=False,
        use_mam=False),
    loss_weights=dict(rpn=1.0, rcnn=0.75, mask=1.0, seg=1.0),  # eq. (7)
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        things_as_one_class=False),
    # area limit of UPSNet's Cityscapes evaluation; no relations given
    test_cfg=dict(
        panoptic=dict(
            score_thr=0.5, stuff_area_limit=2048, category_relations=[])))

max_epochs = 100
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
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
        milestones=[68, 88],
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=4e-5))
auto_scale_lr = dict(enable=False, base_batch_size=16)
