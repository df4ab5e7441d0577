"""Dense instance affinity applier of the Unifying model (Li, Qi, Torr), as
pure functions.

``P = Psi + phi0(Q) (phi1(Q)^T Psi)`` (eq. (3)-(4)). ``phi0(Q)`` (queries)
and ``phi1(Q)`` (keys) are the two activated 1x1 projections of the affinity
features ``Q``; the pairwise affinity ``A = phi0(Q) phi1(Q)^T`` is an
``HW x HW`` matrix that :func:`propagate_dense_affinity` never forms: it
multiplies right to left, so memory and time are linear in ``HW``.
"""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from mmpanoptic.registry import MODELS


def check_affinity_shapes(potential: Tensor, queries: Tensor,
                          keys: Tensor) -> None:
    """Raise a ValueError naming the problem if the shapes do not fit."""
    if potential.dim() != 3 or queries.dim() != 3 or keys.dim() != 3:
        raise ValueError(
            'potential, queries and keys must be (K, H, W), (C, H, W), '
            f'(C, H, W); got {tuple(potential.shape)}, '
            f'{tuple(queries.shape)}, {tuple(keys.shape)}')
    if queries.shape != keys.shape:
        raise ValueError(f'queries {tuple(queries.shape)} and keys '
                         f'{tuple(keys.shape)} must have the same shape')
    if potential.shape[1:] != queries.shape[1:]:
        raise ValueError(
            f'potential {tuple(potential.shape)} and affinity features '
            f'{tuple(queries.shape)} must share their spatial size')


def affinity_context(potential: Tensor, keys: Tensor) -> Tensor:
    """The right factor of eq. (3): ``phi1(Q)^T Psi``, a small (C, K) matrix.

    Args:
        potential (Tensor): (K, H, W) dynamic potential ``Psi``.
        keys (Tensor): (C, H, W) ``phi1(Q)``.

    Returns:
        Tensor: (C, K).
    """
    return keys.flatten(1) @ potential.flatten(1).t()


def apply_affinity_context(potential: Tensor, queries: Tensor,
                           context: Tensor) -> Tensor:
    """``P = Psi + phi0(Q) context`` (eq. (4)) with ``context`` from
    :func:`affinity_context`; one (K, H, W) output, no other full-size
    temporary.

    Args:
        potential (Tensor): (K, H, W). queries (Tensor): (C, H, W).
        context (Tensor): (C, K).

    Returns:
        Tensor: (K, H, W) panoptic logits ``P``.
    """
    num_channels, height, width = potential.shape
    logits = torch.addmm(
        potential.reshape(num_channels, height * width), context.t(),
        queries.flatten(1))  # Psi + (phi1(Q)^T Psi)^T phi0(Q)^T
    return logits.view(num_channels, height, width)


def propagate_dense_affinity(potential: Tensor, queries: Tensor,
                             keys: Tensor) -> Tensor:
    """Revise a dynamic potential with dense instance affinities, right to
    left (eq. (3)): ``Psi + phi0(Q) (phi1(Q)^T Psi)``, no ``HW x HW`` matrix.

    Args:
        potential (Tensor): (K, H, W) dynamic potential ``Psi``, one channel
            per detection and per stuff class; K may be 0.
        queries (Tensor): (C, H, W) ``phi0(Q)``.
        keys (Tensor): (C, H, W) ``phi1(Q)``.

    Returns:
        Tensor: (K, H, W) panoptic logits ``P`` (eq. (4)).
    """
    check_affinity_shapes(potential, queries, keys)
    context = affinity_context(potential, keys)  # (C, K), eq. (3)
    return apply_affinity_context(potential, queries, context)  # eq. (4)


def propagate_dense_affinity_explicit(potential: Tensor, queries: Tensor,
                                      keys: Tensor) -> Tensor:
    """The same as :func:`propagate_dense_affinity`, left to right: forms
    the (HW, HW) affinity matrix ``A = phi0(Q) phi1(Q)^T`` explicitly.
    Quadratic memory; a reference for tests and memory benchmarks only.

    Args:
        potential (Tensor): (K, H, W). queries, keys (Tensor): (C, H, W).

    Returns:
        Tensor: (K, H, W) ``Psi + A Psi``.
    """
    check_affinity_shapes(potential, queries, keys)
    num_channels, height, width = potential.shape
    psi = potential.reshape(num_channels, height * width)
    affinity = queries.flatten(1).t() @ keys.flatten(1)  # (HW, HW)
    return (psi + psi @ affinity.t()).view(num_channels, height, width)


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
