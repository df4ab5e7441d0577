# Panoptic FCN-400 (paper Table 10): the FCN-512 training (short side
# 352..512, long <= 854, k = 3, higher candidate thresholds, as the official
# 400 config), tested at 400 (long <= 666).
_base_ = './panoptic-fcn-512_r50_fpn_8xb2-270k_coco.py'

test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=(666, 400), keep_ratio=True),
    dict(type='LoadPanopticAnnotations', backend_args={{_base_.backend_args}}),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
