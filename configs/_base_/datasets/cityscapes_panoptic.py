# Cityscapes panoptic (8 things, 11 stuff, things first), COCO panoptic files
# made by tools/dataset_converters/cityscapes.py (see README, "Prepare
# Cityscapes panoptic"). Pipeline of the papers (UPSNet, Panoptic FCN,
# Unifying): random scale 0.5-2.0 of 1024x2048, 512x1024 crops, flip; test at
# full resolution, single scale.
dataset_type = 'CityscapesPanopticDataset'
data_root = 'data/cityscapes/'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadPanopticAnnotations', backend_args=backend_args),
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
        allow_negative_crop=True),  # stuff-only crops still teach stuff
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
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='gtFine/cityscapes_panoptic_train.json',
        data_prefix=dict(
            img='leftImg8bit/train/', seg='gtFine/cityscapes_panoptic_train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='gtFine/cityscapes_panoptic_val.json',
        data_prefix=dict(
            img='leftImg8bit/val/', seg='gtFine/cityscapes_panoptic_val/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# One test run scores what the papers' Cityscapes tables report: PQ / SQ /
# RQ and, from pred_sem_seg, mIoU (PanopticMetric); box and mask AP of
# pred_instances, COCO style (CocoMetric on the converter's instances JSON,
# same image ids: coco/bbox_mAP, coco/segm_mAP ...); and Cityscapes' own
# instance-level AP, the "AP" of the papers' Cityscapes tables
# (CityScapesMetric: cityscapesscripts against
# gtFine/val/<city>/*_gtFine_instanceIds.png, found from each image path;
# cityscapes/mAP, cityscapes/AP@50; its mask PNGs go to a temporary folder).
# A model without masks keeps only the CocoMetric with metric='bbox'.
panoptic_metric = dict(
    type='PanopticMetric',
    ann_file=data_root + 'gtFine/cityscapes_panoptic_val.json',
    seg_prefix=data_root + 'gtFine/cityscapes_panoptic_val/',
    backend_args=backend_args)
instance_metric = dict(
    type='CocoMetric',
    ann_file=data_root + 'gtFine/cityscapes_instances_val.json',
    metric=['bbox', 'segm'],
    backend_args=backend_args)
cityscapes_metric = dict(
    type='CityScapesMetric',
    seg_prefix=data_root + 'gtFine/val',
    outfile_prefix=None,
    backend_args=backend_args)
val_evaluator = [panoptic_metric, instance_metric, cityscapes_metric]
test_evaluator = val_evaluator
