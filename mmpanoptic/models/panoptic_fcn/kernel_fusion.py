"""Kernel fusion of Panoptic FCN (paper Sec. 3.2, eq. (4)).

Pure functions: kernels from all levels in, one kernel per identity out, and
the pooling of a level's kernel map over each stuff region.
"""
from typing import Tuple

import torch
from torch import Tensor

# How a stuff region's kernel is pooled: 'image' divides the region's kernel
# sum by the level's H * W (the official adaptive average pool of the masked
# kernel map), 'region' by the region's area (the paper's "AvgPool").
STUFF_KERNEL_AVERAGES = ('image', 'region')


def pool_stuff_kernels(regions: Tensor,
                       kernel_map: Tensor,
                       kernel_average: str = 'image') -> Tensor:
    """The kernel of each stuff region of one level (App. A.1, AvgPool).

    Args:
        regions (Tensor): (N, H * W) {0, 1} region masks on the level.
        kernel_map (Tensor): (C, H, W) kernel weight map G of the level.
        kernel_average (str): 'image' (the official code) or 'region', see
            :data:`STUFF_KERNEL_AVERAGES`.

    Returns:
        Tensor: (N, C) kernels.
    """
    if kernel_average not in STUFF_KERNEL_AVERAGES:
        raise ValueError(f'kernel_average must be one of '
                         f'{STUFF_KERNEL_AVERAGES}, got {kernel_average!r}')
    regions = regions.to(kernel_map.dtype)
    sums = regions @ kernel_map.flatten(1).t()
    if kernel_average == 'image':
        return sums / regions.shape[1]
    return sums / regions.sum(dim=1, keepdim=True).clamp(min=1)


def cosine_similarity_matrix(kernels: Tensor, eps: float = 1e-8) -> Tensor:
    """Pairwise cosine similarity. (N, C) -> (N, N)."""
    normed = kernels / kernels.norm(dim=1, keepdim=True).clamp(min=eps)
    return normed @ normed.t()


def fuse_thing_kernels(kernels: Tensor,
                       labels: Tensor,
                       scores: Tensor,
                       similarity_thr: float = 0.9,
                       class_aware: bool = True
                       ) -> Tuple[Tensor, Tensor, Tensor]:
    """Merge thing kernels predicted to be the same object, eq. (4).

    Kernels are visited in descending score. A kernel that is not similar
    (cosine >= ``similarity_thr``, and the same class if ``class_aware``) to
    any higher-scoring kernel starts an identity; each kernel joins the
    identity of the first (highest-scoring) kernel it is similar to, and
    every identity's kernel is the average of its members (AvgPool of
    eq. (4)). Its score and class are those of its first kernel. A kernel
    whose first similar kernel is itself a member of another identity is
    dropped, as in the official code (no chains).

    Args:
        kernels (Tensor): (N, C) kernels from all levels.
        labels (Tensor): (N,) long thing classes.
        scores (Tensor): (N,) scores.
        similarity_thr (float): cosine threshold. Defaults to 0.9 (paper
            Table 3; 0.95 for Cityscapes).
        class_aware (bool): only merge kernels of the same class (Table 3).

    Returns:
        tuple[Tensor, Tensor, Tensor]: fused kernels (M, C), labels (M,),
        scores (M,), in descending score.
    """
    if not (len(kernels) == len(labels) == len(scores)):
        raise ValueError('kernels, labels and scores must have the same '
                         f'length, got {len(kernels)}, {len(labels)}, '
                         f'{len(scores)}')
    if len(kernels) == 0:
        return kernels, labels, scores
    order = scores.argsort(descending=True)
    kernels, labels, scores = kernels[order], labels[order], scores[order]
    same = cosine_similarity_matrix(kernels) >= similarity_thr
    if class_aware:
        same &= labels[:, None] == labels[None, :]
    same.fill_diagonal_(True)  # every kernel is its own identity's first
    same = same.triu()  # row i may absorb later (lower-scoring) columns j
    # number of rows up to i that absorb column j: 1 at the first one
    claims = same.long().cumsum(dim=0)
    is_first_claim = same & (claims == 1)
    keep = is_first_claim.diagonal()
    members = is_first_claim[keep].float()  # (M, N)
    fused = members @ kernels / members.sum(dim=1, keepdim=True)  # eq. (4)
    return fused, labels[keep], scores[keep]


def fuse_stuff_kernels(kernels: Tensor, labels: Tensor, scores: Tensor
                       ) -> Tuple[Tensor, Tensor, Tensor]:
    """Average the stuff kernels of each class across levels, eq. (4).

    Args:
        kernels (Tensor): (N, C). labels (Tensor): (N,) long. scores (N,).

    Returns:
        tuple[Tensor, Tensor, Tensor]: (U, C) kernels, (U,) sorted unique
        labels, (U,) mean scores.
    """
    if not (len(kernels) == len(labels) == len(scores)):
        raise ValueError('kernels, labels and scores must have the same '
                         'length')
    unique_labels = torch.unique(labels)
    members = (unique_labels[:, None] == labels[None, :]).to(kernels.dtype)
    counts = members.sum(dim=1, keepdim=True).clamp(min=1)
    fused = members @ kernels / counts
    fused_scores = (members @ scores[:, None].to(kernels.dtype) /
                    counts).view(-1)
    return fused, unique_labels, fused_scores
