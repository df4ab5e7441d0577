# COCO panoptic: mmdet's pipeline and files, with mmpanoptic's validated
# CocoPanopticDataset and LoadPanopticAnnotations (clear errors for class
# lists that are not things first, unknown categories, PNG/JSON mismatches),
# the in-memory PanopticMetric (same names and values as mmdet's
# CocoPanopticMetric, coco_panoptic/PQ ...) and mmdet's CocoMetric.
dataset_type = 'CocoPanopticDataset'
data_root = 'data/coco/'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadPanopticAnnotations', backend_args=backend_args),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
# resize before loading annotations: evaluation at the original size
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
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
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/panoptic_train2017.json',
        data_prefix=dict(
            img='train2017/', seg='annotations/panoptic_train2017/'),
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
        ann_file='annotations/panoptic_val2017.json',
        data_prefix=dict(img='val2017/', seg='annotations/panoptic_val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# One test run scores what the papers' COCO tables report: PQ / SQ / RQ
# and, from pred_sem_seg, mIoU (PanopticMetric: in memory, mmdet's names
# coco_panoptic/PQ ...), and box and mask AP of pred_instances (mmdet's
# CocoMetric on the instance annotations: coco/bbox_mAP, coco/segm_mAP ...).
# A model without masks keeps only metric='bbox'.
panoptic_metric = dict(
    type='PanopticMetric',
    ann_file=data_root + 'annotations/panoptic_val2017.json',
    seg_prefix=data_root + 'annotations/panoptic_val2017/',
    backend_args=backend_args)
instance_metric = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/instances_val2017.json',
    metric=['bbox', 'segm'],
    backend_args=backend_args)
val_evaluator = [panoptic_metric, instance_metric]
test_evaluator = val_evaluator

# Test-dev submission (panoptic PNGs + JSON with COCO category ids, and the
# detection JSONs: test.panoptic.json, test.panoptic/, test.bbox.json,
# test.segm.json):
# test_dataloader = dict(
#     dataset=dict(
#         ann_file='annotations/panoptic_image_info_test-dev2017.json',
#         data_prefix=dict(_delete_=True, img='test2017/')))
# test_evaluator = [
#     dict(
#         type='PanopticMetric',
#         format_only=True,
#         ann_file=data_root +
#         'annotations/panoptic_image_info_test-dev2017.json',
#         outfile_prefix='./work_dirs/coco_panoptic/test'),
#     dict(
#         type='CocoMetric',
#         metric=['bbox', 'segm'],
#         format_only=True,
#         ann_file=data_root + 'annotations/image_info_test-dev2017.json',
#         outfile_prefix='./work_dirs/coco_panoptic/test')
# ]
