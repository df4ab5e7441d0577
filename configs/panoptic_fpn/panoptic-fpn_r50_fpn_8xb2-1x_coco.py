# mmdet's Panoptic FPN R50-FPN 1x (model, 12-epoch schedule and runtime as
# mmdet's panoptic_fpn/panoptic-fpn_r50_fpn_8xb2-1x_coco.py) on mmpanoptic's
# validated CocoPanopticDataset with PanopticMetric: the reference every
# method is compared to.
_base_ = [
    '../_base_/models/panoptic-fpn_r50_fpn.py',
    '../_base_/datasets/coco_panoptic.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime.py',
]

# mmdet's PanopticFPN returns pred_panoptic_seg only (no pred_instances, no
# pred_sem_seg): PQ alone
val_evaluator = [{{_base_.panoptic_metric}}]
test_evaluator = val_evaluator
