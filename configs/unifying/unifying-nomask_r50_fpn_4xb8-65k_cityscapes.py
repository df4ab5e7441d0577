# The Unifying model without object masks (Table 1 model B, Table 2
# "Ours (w/o mask)"): Faster R-CNN boxes only; without masks the potential
# variants B and C coincide (eq. (1)).
_base_ = './unifying_r50_fpn_4xb8-65k_cityscapes.py'

model = dict(roi_head=dict(mask_roi_extractor=None, mask_head=None))

# no masks: box AP (COCO style) besides PQ and mIoU; mask AP and Cityscapes'
# instance AP need masks
box_metric = dict(
    type='CocoMetric',
    ann_file={{_base_.instance_metric.ann_file}},
    metric='bbox',
    backend_args={{_base_.backend_args}})
val_evaluator = [{{_base_.panoptic_metric}}, box_metric]
test_evaluator = val_evaluator
