"""FPN with a squeeze-and-excitation step on the top backbone feature
(Unifying model, Li, Qi, Torr, Sec. 3.1)."""
from typing import Tuple

from mmdet.models.layers.se_layer import SELayer
from mmdet.models.necks import FPN
from torch import Tensor

from mmpanoptic.registry import MODELS


@MODELS.register_module()
class SEFPN(FPN):
    """mmdet's FPN whose top input (e.g. ResNet's C5) is first reweighted
    channel-wise by a squeeze-and-excitation layer (Hu et al.), "to
    encourage global consistency" before the first FPN feature is made.

    Args:
        se_ratio (int): channel reduction of the SE layer. Defaults to 16.
        **kwargs: mmdet ``FPN`` arguments (``in_channels``,
            ``out_channels``, ``num_outs``, ...).
    """

    def __init__(self, *, se_ratio: int = 16, **kwargs) -> None:
        super().__init__(**kwargs)
        self.squeeze_excitation = SELayer(
            self.in_channels[-1], ratio=se_ratio)

    def forward(self, inputs: Tuple[Tensor]) -> tuple:
        """
        Args:
            inputs (tuple[Tensor]): backbone features, (B, C_l, H_l, W_l).

        Returns:
            tuple[Tensor]: FPN outputs, as mmdet's FPN.
        """
        inputs = tuple(inputs[:-1]) + (self.squeeze_excitation(inputs[-1]), )
        return super().forward(inputs)
