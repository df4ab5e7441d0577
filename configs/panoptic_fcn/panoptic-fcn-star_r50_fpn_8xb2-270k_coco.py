# Panoptic FCN* (enhanced, paper Table 8): the feature encoder uses modulated
# deformable convs and 256 channels (kernels are projected to 256 too).
_base_ = './panoptic-fcn_r50_fpn_8xb2-270k_coco.py'

model = dict(
    panoptic_head=dict(
        feature_encoder=dict(channels=256, deformable=True)))
