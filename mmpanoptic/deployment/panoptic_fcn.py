"""Panoptic FCN as one exportable graph plus the composition after it.

:class:`PanopticFCNGraph` runs a :class:`PanopticFCN` from the preprocessed
image to the thing and stuff mask probabilities: backbone, FPN, the head's
submodules, peak extraction, stuff regions, kernel fusion (eq. (4)), mask
prediction (eq. (5)) and maskness rescoring. Everything is a tensor
operation of fixed rank that ``torch.onnx.export`` records for any input
size, so it exports as one graph with a dynamic input size.

:class:`PanopticFCNComposer` does what is left of the head's inference on the
graph's outputs: the masks upsampled to the image and decided per pixel
(``upsample_threshold`` / ``upsample_argmax``) and the panoptic combination
(``combine_things_and_stuff``), a sequential, data-dependent visit of the
things by score. It calls the same functions as
:meth:`PanopticFCNHead.predict`, in PyTorch.

Together they equal ``PanopticFCN.predict`` (checked in
``tests/test_deployment/test_panoptic_fcn_graph.py``).
"""
from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmengine.structures import InstanceData, PixelData
from torch import Tensor, nn

from mmpanoptic.models.panoptic_fcn.head import PanopticFCNHead, masks_to_boxes
from mmpanoptic.models.panoptic_fcn.kernel_fusion import (
    cosine_similarity_matrix, fuse_stuff_kernels)
from mmpanoptic.models.panoptic_fcn.postprocessing import (
    combine_things_and_stuff, maskness_rescore, stuff_candidates)
from mmpanoptic.ops.resample import upsample_threshold

GraphOutputs = Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]


def peak_candidates(center_logits: Tensor, kernel_map: Tensor, top_k: int,
                    score_thr: float,
                    smooth_kernel_size: int) -> Tuple[Tensor, Tensor, Tensor]:
    """:func:`~mmpanoptic.models.panoptic_fcn.postprocessing.
    thing_candidates` with a top-k that a traced graph keeps for any level
    size: the flattened peak scores get ``top_k`` trailing zeros, so
    ``topk(top_k)`` is valid when a level has fewer than ``top_k`` scores,
    and the zeros are removed by the score threshold (``score_thr >= 0``).

    Args:
        center_logits (Tensor): (T, H, W) things heatmap logits.
        kernel_map (Tensor): (C, H, W).
        top_k (int): peaks kept. score_thr (float): >= 0.
        smooth_kernel_size (int): box filter size, 1 to disable.

    Returns:
        tuple[Tensor, Tensor, Tensor]: kernels (N, C), labels (N,) long,
        scores (N,).
    """
    if score_thr < 0:
        raise ValueError(f'center_score_thr must be >= 0, got {score_thr}')
    height, width = center_logits.shape[-2:]
    scores = center_logits.sigmoid()
    if smooth_kernel_size > 1:
        smoothed = F.avg_pool2d(
            scores[None],
            smooth_kernel_size,
            stride=1,
            padding=(smooth_kernel_size - 1) // 2)[0]
        scores = (scores + smoothed) / 2
    peaks = F.max_pool2d(scores[None], 3, stride=1, padding=1)[0] == scores
    scores = F.pad((scores * peaks).reshape(1, -1), (0, top_k))[0]
    top_scores, top_index = scores.topk(top_k)
    keep = top_scores > score_thr
    top_scores, top_index = top_scores[keep], top_index[keep]
    labels = torch.div(top_index, height * width, rounding_mode='floor')
    positions = top_index % (height * width)
    kernels = kernel_map.flatten(1).index_select(1, positions).t()
    return kernels, labels, top_scores


def fuse_thing_kernels_traceable(
        kernels: Tensor, labels: Tensor, scores: Tensor, similarity_thr: float,
        class_aware: bool) -> Tuple[Tensor, Tensor, Tensor]:
    """:func:`~mmpanoptic.models.panoptic_fcn.kernel_fusion.
    fuse_thing_kernels` (eq. (4)) without its in-place diagonal fill and
    its Python branch on the number of kernels, so that a trace records it
    for any number (0 included)."""
    order = scores.argsort(descending=True)
    kernels, labels, scores = kernels[order], labels[order], scores[order]
    same = cosine_similarity_matrix(kernels) >= similarity_thr
    if class_aware:
        same = same & (labels[:, None] == labels[None, :])
    index = torch.arange(scores.shape[0], device=scores.device)
    diagonal = index[:, None] == index[None, :]
    # row i may absorb itself and later (lower-scoring) columns j
    same = (same | diagonal) & (index[:, None] <= index[None, :])
    claims = same.long().cumsum(dim=0)
    is_first_claim = same & (claims == 1)
    keep = (is_first_claim & diagonal).any(dim=1)
    members = is_first_claim[keep].to(kernels.dtype)  # (M, N)
    fused = members @ kernels / members.sum(dim=1, keepdim=True)  # eq. (4)
    return fused, labels[keep], scores[keep]


class PanopticFCNGraph(nn.Module):
    """A :class:`PanopticFCN` from one preprocessed image to its masks.

    Args:
        model (PanopticFCN): the model, in eval mode; its head's
            ``test_cfg`` is read at every call.

    ``forward`` returns, for the one image of ``(1, 3, H, W)`` (the
    normalised, padded batch of ``model.data_preprocessor``):

    - ``thing_probs`` (M, H/4, W/4): mask probabilities of the things kept
      (score >= ``thing_score_thr``, the ``max_things`` best), by descending
      score;
    - ``thing_labels`` (M,) int64 and ``thing_scores`` (M,) (maskness
      rescored);
    - ``stuff_probs`` (U, H/4, W/4) and ``stuff_channels`` (U,) int64, one
      per stuff-map channel present, sorted (channel S is "all things").
    """

    output_names = ('thing_probs', 'thing_labels', 'thing_scores',
                    'stuff_probs', 'stuff_channels')

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> GraphOutputs:
        if image.dim() != 4 or image.shape[0] != 1:
            raise ValueError('PanopticFCNGraph takes one image (1, 3, H, W), '
                             f'got {tuple(image.shape)}')
        head = self.model.panoptic_head
        cfg = head.test_cfg
        center_logits, stuff_logits, kernel_maps, encoded = head(
            self.model.extract_feat(image))
        thing_parts, stuff_parts = [], []
        for centers, stuff, kernel_map, smooth in zip(
                center_logits, stuff_logits, kernel_maps,
                cfg['smooth_kernel_sizes']):
            thing_parts.append(
                peak_candidates(centers[0], kernel_map[0], cfg['center_top_k'],
                                cfg['center_score_thr'], smooth))
            stuff_parts.append(
                stuff_candidates(stuff[0], kernel_map[0],
                                 cfg['stuff_score_thr'],
                                 head.stuff_kernel_average))
        thing_kernels, thing_labels, thing_scores = (
            torch.cat(parts) for parts in zip(*thing_parts))
        stuff_kernels, stuff_channels, stuff_scores = (
            torch.cat(parts) for parts in zip(*stuff_parts))

        features = encoded[0].flatten(1)  # (C_e, P)
        feat_h, feat_w = encoded.shape[-2:]
        thing_kernels, thing_labels, thing_scores = (
            fuse_thing_kernels_traceable(
                head.thing_kernel_projection(thing_kernels), thing_labels,
                thing_scores, cfg['similarity_thr'],
                cfg['class_aware_fusion']))
        thing_probs = (thing_kernels @ features).sigmoid().reshape(
            -1, feat_h, feat_w)  # eq. (5)
        thing_scores, _ = maskness_rescore(thing_probs, thing_scores,
                                           cfg['mask_thr'])
        keep = (thing_scores >= cfg['thing_score_thr']).nonzero().view(-1)
        keep = keep[thing_scores[keep].argsort(
            descending=True)[:cfg['max_things']]]
        stuff_kernels, stuff_channels, _ = fuse_stuff_kernels(
            head.stuff_kernel_projection(stuff_kernels), stuff_channels,
            stuff_scores)
        stuff_probs = (stuff_kernels @ features).sigmoid().reshape(
            -1, feat_h, feat_w)
        return (thing_probs[keep], thing_labels[keep], thing_scores[keep],
                stuff_probs, stuff_channels)


class PanopticFCNComposer:
    """The panoptic, semantic and instance results of one image from
    :class:`PanopticFCNGraph`'s outputs, as ``PanopticFCNHead.predict``
    makes them (the same functions, in PyTorch).

    It restates the second half of ``PanopticFCNHead._predict_single``,
    which runs both halves in one method, for outputs that come from a graph
    (no PyTorch head at hand); ``tests/test_deployment/
    test_panoptic_fcn_graph.py`` fails if the two diverge.

    Args:
        num_things_classes (int): T. num_stuff_classes (int): S.
        test_cfg (dict): the head's ``test_cfg`` (``mask_thr``,
            ``overlap_thr``, ``stuff_area_limit``,
            ``panoptic_thing_score_thr`` are used).
    """

    _stuff_label_maps = PanopticFCNHead._stuff_label_maps

    def __init__(self, num_things_classes: int, num_stuff_classes: int,
                 test_cfg: dict) -> None:
        self.num_things_classes = num_things_classes
        self.num_stuff_classes = num_stuff_classes
        missing = {
            'mask_thr', 'overlap_thr', 'stuff_area_limit',
            'panoptic_thing_score_thr'
        } - set(test_cfg)
        if missing:
            raise ValueError(f'test_cfg lacks {sorted(missing)}')
        self.test_cfg = dict(test_cfg)

    def __call__(self,
                 thing_probs: Tensor,
                 thing_labels: Tensor,
                 thing_scores: Tensor,
                 stuff_probs: Tensor,
                 stuff_channels: Tensor,
                 img_meta: dict,
                 rescale: bool = True) -> Dict[str, object]:
        """Returns ``pan_results``, ``sem_results`` (PixelData (1, H, W))
        and ``ins_results`` (InstanceData), as the head's ``predict``."""
        cfg = self.test_cfg
        out_size = img_meta['ori_shape'] if rescale else img_meta['img_shape']
        out_size = tuple(int(v) for v in out_size[:2])
        valid_size = tuple(int(v) for v in img_meta['img_shape'][:2])
        stride = PanopticFCNHead._encoded_stride(img_meta, stuff_probs)
        thing_masks = upsample_threshold(thing_probs, valid_size, out_size,
                                         stride, cfg['mask_thr'])
        stuff_labels, best_stuff = self._stuff_label_maps(
            stuff_probs, stuff_channels, valid_size, out_size, stride)
        panoptic = combine_things_and_stuff(
            thing_masks, thing_labels, thing_scores, stuff_labels,
            self.num_things_classes, self.num_stuff_classes,
            cfg['overlap_thr'], cfg['stuff_area_limit'],
            cfg['panoptic_thing_score_thr'])
        semantic = torch.where(
            panoptic == self.num_things_classes + self.num_stuff_classes,
            best_stuff, panoptic % INSTANCE_OFFSET)
        instances = InstanceData(
            masks=thing_masks,
            labels=thing_labels,
            scores=thing_scores,
            bboxes=masks_to_boxes(thing_masks))
        return dict(
            pan_results=PixelData(sem_seg=panoptic[None]),
            sem_results=PixelData(sem_seg=semantic[None]),
            ins_results=instances)
