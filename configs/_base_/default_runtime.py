_base_ = 'mmdet::_base_/default_runtime.py'

# mmpanoptic's modules first, then mmdet's (parent registries), then
# mmengine's; other packages' modules as `mmseg.X`.
default_scope = 'mmpanoptic'

# atomic checkpoints, robust and RNG-exact resume, CPU distributed runs
runner_type = 'PanopticRunner'
# stop at the first NaN/inf loss term, naming it and the iteration
custom_hooks = [dict(type='NonFiniteLossHook')]

# panoptic drawing (stuff in class colours, things in shades of theirs) for
# `tools/test.py --show-dir`, the val hook and the demo; `_delete_` drops
# mmdet's DetLocalVisualizer and the `_scope_='mmdet'` it carries
visualizer = dict(
    _delete_=True,
    type='PanopticLocalVisualizer',
    vis_backends=[dict(type='LocalVisBackend')],
    name='visualizer')
