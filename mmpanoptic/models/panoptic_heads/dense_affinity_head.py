"""Dense instance affinity head of the Unifying model (Li, Qi, Torr,
Sec. 3.4.2, Fig. 5)."""
from typing import Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from mmpanoptic.registry import MODELS
from .dense_affinity import (affinity_context, apply_affinity_context,
                             check_affinity_shapes)


@MODELS.register_module()
class DenseAffinityHead(BaseModule):
    """Affinity features ``Q`` and the affinity applier
    ``P = Psi + phi0(Q) (phi1(Q)^T Psi)`` (eq. (3)-(4)).

    The feature extractor has the semantic submodule's decoder design
    (``decoder``, by default UPSNet's semantic head with GN) with a final
    1x1 conv to ``affinity_channels`` (C = 128) channels at 1/4.
    ``phi0`` and ``phi1`` are 1x1 convs, each followed by an activation. The
    paper does not name the activations; we follow the efficient attention
    of Shen et al. ([23], whose associativity trick eq. (3) cites): a softmax
    over channels for ``phi0`` and over pixels for ``phi1``. Each pixel's
    affinities then sum to 1 (``A = phi0(Q) phi1(Q)^T`` is row-stochastic),
    so ``A Psi`` stays on the scale of ``Psi`` whatever the image size.

    Args:
        affinity_channels (int): C. Defaults to 128.
        decoder (dict): config of the affinity feature extractor; a semantic
            head whose class count is set to C (``num_things_classes=C``,
            ``num_stuff_classes=0``, no RoI loss) and whose ``seg_preds`` are
            used as ``Q``.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 *,
                 affinity_channels: int = 128,
                 decoder: ConfigType = dict(
                     type='UPSNetSemanticHead',
                     in_channels=256,
                     num_convs=3,
                     deformable=True,
                     norm_cfg=dict(type='GN', num_groups=32,
                                   requires_grad=True)),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if affinity_channels < 1:
            raise ValueError('affinity_channels must be positive, got '
                             f'{affinity_channels}')
        self.affinity_channels = affinity_channels
        decoder = dict(decoder)
        # the head's constructor builds a semantic loss; Q gets none
        # (Sec. 3.4.2: the affinity is trained through the panoptic loss)
        decoder.setdefault(
            'loss_seg',
            dict(type='CrossEntropyLoss', ignore_index=255,
                 avg_non_ignore=True))
        decoder.update(
            num_things_classes=affinity_channels,
            num_stuff_classes=0,
            loss_roi=None)
        self.feature_extractor = MODELS.build(decoder)
        self.query_proj = nn.Conv2d(affinity_channels, affinity_channels, 1)
        self.key_proj = nn.Conv2d(affinity_channels, affinity_channels, 1)

    def forward(self, x: Tuple[Tensor]) -> Tensor:
        """Affinity features ``Q``: (B, C, H/4, W/4) from FPN levels ``x``."""
        return self.feature_extractor(x)['seg_preds']

    def project_queries(self, affinity_feats: Tensor) -> Tensor:
        """``phi0(Q)``: (C, H, W) from ``Q`` (C, H, W) of one image, a
        1x1 conv and a softmax over channels."""
        return F.softmax(self.query_proj(affinity_feats[None])[0], dim=0)

    def project_keys(self, affinity_feats: Tensor) -> Tensor:
        """``phi1(Q)``: (C, H, W) from ``Q`` (C, H, W) of one image, a
        1x1 conv and a softmax over the H * W pixels."""
        keys = self.key_proj(affinity_feats[None])[0]
        return F.softmax(keys.flatten(1), dim=1).view_as(keys)

    def project(self, affinity_feats: Tensor) -> Tuple[Tensor, Tensor]:
        """(``phi0(Q)``, ``phi1(Q)``) of one image, each (C, H, W)."""
        return (self.project_queries(affinity_feats),
                self.project_keys(affinity_feats))

    def propagate(self, potential: Tensor, affinity_feats: Tensor) -> Tensor:
        """Panoptic logits ``P`` (K, H, W) of one image from its potential
        ``Psi`` (K, H, W) and affinity features ``Q`` (C, H, W) (eq. (4)),
        right to left: no (HW, HW) matrix is formed, and the keys are
        released before the queries are made."""
        check_affinity_shapes(potential, affinity_feats, affinity_feats)
        context = affinity_context(potential,
                                   self.project_keys(affinity_feats))
        return apply_affinity_context(
            potential, self.project_queries(affinity_feats), context)
