# UPSNet R50-FPN with plain 3x3 convs instead of deformable convs in the
# semantic head (asked for by users of the official code; much faster on
# CPU, where mmcv's deformable conv costs ~9x a dense conv). Used for the
# latency comparison with mmdet's Panoptic FPN R50.
_base_ = './upsnet_r50_fpn_8xb2-90k_coco.py'

model = dict(semantic_head=dict(deformable=False))
