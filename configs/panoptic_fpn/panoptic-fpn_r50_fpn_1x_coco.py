# mmdet's Panoptic FPN, unchanged: the reference every method is compared to.
_base_ = 'mmdet::panoptic_fpn/panoptic-fpn_r50_fpn_1x_coco.py'

default_scope = 'mmpanoptic'
# atomic checkpoints, robust and RNG-exact resume, CPU distributed runs
runner_type = 'PanopticRunner'
custom_hooks = [dict(type='NonFiniteLossHook')]
visualizer = dict(
    _delete_=True,
    type='PanopticLocalVisualizer',
    vis_backends=[dict(type='LocalVisBackend')],
    name='visualizer')
