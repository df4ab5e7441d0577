"""Dynamic potential head of the Unifying model (Li, Qi, Torr, Sec. 3.4.1)."""
from typing import Optional

import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from mmpanoptic.registry import MODELS
from .dynamic_potential import POTENTIAL_VARIANTS, dynamic_potential


@MODELS.register_module()
class DynamicPotentialHead(BaseModule):
    """Parameter-free assembly of semantic and detection cues into the
    dynamic potential ``Psi`` with D + N_st channels (eq. (1)-(2)).

    Args:
        num_things_classes (int): N_th.
        num_stuff_classes (int): N_st.
        variant (str): 'A' (UPSNet-style, no score), 'B' (multiply by the
            pasted masks, Cityscapes) or 'C' (add them, COCO). Without masks
            B and C are equal. Defaults to 'B'.
        init_cfg (dict, optional): unused (no parameters).
    """

    def __init__(self,
                 *,
                 num_things_classes: int,
                 num_stuff_classes: int,
                 variant: str = 'B',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if variant not in POTENTIAL_VARIANTS:
            raise ValueError(f'variant must be one of {POTENTIAL_VARIANTS}, '
                             f'got {variant!r}')
        if num_things_classes < 1 or num_stuff_classes < 0:
            raise ValueError('need at least one thing class and a '
                             'non-negative number of stuff classes, got '
                             f'{num_things_classes}, {num_stuff_classes}')
        self.num_things_classes = num_things_classes
        self.num_stuff_classes = num_stuff_classes
        self.variant = variant

    def forward(self, semantic_logits: Tensor, detections: InstanceData,
                stride: float) -> Tensor:
        """Potential of one image.

        Args:
            semantic_logits (Tensor): (N_th + N_st, H, W) semantic logits at
                ``stride``; turned into probabilities ``V`` by a softmax.
            detections (InstanceData): ``bboxes`` (D, 4) in input pixels,
                ``scores`` (D,), ``labels`` (D,) and optionally
                ``mask_probs`` (D, h, w) RoI mask probabilities of the
                detected class (e.g. 28 x 28).
            stride (float): input pixels per pixel of ``semantic_logits``.

        Returns:
            Tensor: (D + N_st, H, W) ``Psi``.
        """
        num_classes = self.num_things_classes + self.num_stuff_classes
        if semantic_logits.dim() != 3 or \
                semantic_logits.shape[0] != num_classes:
            raise ValueError(f'semantic_logits must be ({num_classes}, H, '
                             f'W), got {tuple(semantic_logits.shape)}')
        return dynamic_potential(
            F.softmax(semantic_logits, dim=0),
            detections.bboxes,
            detections.scores,
            detections.labels,
            num_things=self.num_things_classes,
            stride=stride,
            mask_probs=detections.get('mask_probs', None),
            variant=self.variant)
