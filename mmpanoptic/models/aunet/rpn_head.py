"""mmdet's RPN head with a normalisation layer in its 3x3 conv: AUNet adds
GN "to all of the branches" (sec. 3.4), the RPN branch included."""
from mmcv.cnn import ConvModule
from mmdet.models.dense_heads import RPNHead
from mmdet.utils import OptConfigType
from torch import nn

from mmpanoptic.registry import MODELS


@MODELS.register_module()
class NormRPNHead(RPNHead):
    """:class:`mmdet.models.dense_heads.RPNHead` whose ``rpn_conv`` is
    conv3x3 + ``norm_cfg`` (GN in AUNet's configs); mmdet's ``forward``
    applies the ReLU after it, so the RPN branch feature is
    ``ReLU(GN(conv3x3(x)))``.

    Args:
        norm_cfg (dict, optional): normalisation after every RPN conv;
            None gives mmdet's RPNHead.
        **kwargs: mmdet's RPNHead arguments.
    """

    def __init__(self, *args, norm_cfg: OptConfigType = None,
                 **kwargs) -> None:
        self.norm_cfg = norm_cfg
        super().__init__(*args, **kwargs)

    def _init_layers(self) -> None:
        super()._init_layers()
        if self.norm_cfg is None:
            return
        convs = [
            ConvModule(
                self.in_channels if i == 0 else self.feat_channels,
                self.feat_channels,
                3,
                padding=1,
                norm_cfg=self.norm_cfg,
                # the last ReLU is mmdet's forward_single's
                act_cfg=dict(type='ReLU') if i < self.num_convs - 1 else None)
            for i in range(self.num_convs)
        ]
        self.rpn_conv = convs[0] if len(convs) == 1 else nn.Sequential(*convs)
