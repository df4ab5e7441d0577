# COCO panoptic: mmdet's dataset and pipelines, mmpanoptic's in-memory
# PanopticMetric (same metric names, coco_panoptic/PQ ..., as mmdet's
# CocoPanopticMetric, and equal values).
_base_ = 'mmdet::_base_/datasets/coco_panoptic.py'

data_root = 'data/coco/'
backend_args = None

val_evaluator = dict(
    _delete_=True,
    type='PanopticMetric',
    ann_file=data_root + 'annotations/panoptic_val2017.json',
    seg_prefix=data_root + 'annotations/panoptic_val2017/',
    backend_args=backend_args)
test_evaluator = val_evaluator

# Test-dev submission (PNGs + JSON with COCO category ids):
# test_dataloader = dict(
#     dataset=dict(
#         ann_file='annotations/panoptic_image_info_test-dev2017.json',
#         data_prefix=dict(_delete_=True, img='test2017/')))
# test_evaluator = dict(
#     _delete_=True,
#     type='PanopticMetric',
#     format_only=True,
#     ann_file=data_root + 'annotations/panoptic_image_info_test-dev2017.json',
#     outfile_prefix='./work_dirs/coco_panoptic/test')
