_base_ = 'mmdet::_base_/default_runtime.py'

# mmpanoptic's modules first, then mmdet's (parent registries), then
# mmengine's; other packages' modules as `mmseg.X`.
default_scope = 'mmpanoptic'
