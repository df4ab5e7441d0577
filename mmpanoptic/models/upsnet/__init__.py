"""UPSNet (Xiong et al., CVPR 2019): detector, parameter-free panoptic head
and its pure functions (logits, targets, mask pruning, class assignment,
the heuristic combination of UPSNet-C), the global-context FPN."""
from .global_context_fpn import GlobalContextFPN
from .panoptic_head import UPSNetPanopticHead
from .upsnet import UPSNet

__all__ = ['UPSNet', 'UPSNetPanopticHead', 'GlobalContextFPN']
