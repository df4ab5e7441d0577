"""Dense instance affinity applier of the Unifying model (Li, Qi, Torr), as
pure functions.

``P = Psi + phi0(Q) (phi1(Q)^T Psi)`` (eq. (3)-(4)). ``phi0(Q)`` (queries)
and ``phi1(Q)`` (keys) are the two activated 1x1 projections of the affinity
features ``Q``; the pairwise affinity ``A = phi0(Q) phi1(Q)^T`` is an
``HW x HW`` matrix that :func:`propagate_dense_affinity` never forms: it
multiplies right to left, so memory and time are linear in ``HW``.
"""
import torch
from torch import Tensor


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
