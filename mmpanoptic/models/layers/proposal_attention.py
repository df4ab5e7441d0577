"""AUNet's Proposal Attention Module (PAM, sec. 3.3.1, Fig. 3)."""
from mmpanoptic.registry import MODELS
from .spatial_background_attention import SpatialBackgroundAttention


@MODELS.register_module()
class ProposalAttention(SpatialBackgroundAttention):
    """PAM on one FPN level: the guidance is the RPN branch feature P_i
    (the RPN head's 3x3 conv + ReLU output, C_r channels), so the semantic
    loss also trains the RPN conv. Equations (1)-(4), see
    :class:`SpatialBackgroundAttention`."""
