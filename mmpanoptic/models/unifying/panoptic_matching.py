"""Target generation of the panoptic matching loss (Unifying model, Li, Qi,
Torr, Sec. 3.5, eq. (5)), as pure functions.

Ground-truth thing segments are matched one-to-one to predicted detections
so that the total box IoU is maximal (eq. (5)); IoU between different
classes is 0 and pairs below ``iou_thr`` do not match. GT segments without a
match become "ignore"; detections that overlap a GT segment by at least
``iou_thr`` but lost it to a better match (duplicates) are removed before
the panoptic submodule. Stuff segments match the whole-image box of their
class. The result is a per-pixel index into the channels of the panoptic
logits ``P``: kept detections in their order, then the stuff classes.
"""
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.structures.bbox import bbox_overlaps
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from mmpanoptic.registry import MODELS


def match_segments_to_detections(
        gt_boxes: Tensor,
        gt_labels: Tensor,
        det_boxes: Tensor,
        det_labels: Tensor,
        iou_thr: float = 0.5) -> Tuple[Tensor, Tensor]:
    """Match GT thing segments to detections by box IoU (eq. (5)).

    Args:
        gt_boxes (Tensor): (G, 4) tight boxes of the GT segments.
        gt_labels (Tensor): (G,) their classes.
        det_boxes (Tensor): (D, 4) predicted boxes.
        det_labels (Tensor): (D,) predicted classes.
        iou_thr (float): minimum IoU of a valid match ``t``.

    Returns:
        tuple[Tensor, Tensor]:

        - matched_det (Tensor): (G,) long, the detection matched to each GT
          segment, -1 if none.
        - keep_det (Tensor): (D,) bool, False for duplicates: detections
          with IoU >= ``iou_thr`` to a same-class GT segment that was
          matched to another detection.
    """
    num_gts, num_dets = gt_boxes.shape[0], det_boxes.shape[0]
    device = det_boxes.device
    matched_det = torch.full((num_gts, ), -1, dtype=torch.long, device=device)
    keep_det = torch.ones(num_dets, dtype=torch.bool, device=device)
    if num_gts == 0 or num_dets == 0:
        return matched_det, keep_det
    ious = bbox_overlaps(gt_boxes.detach().float(),
                         det_boxes.detach().float())  # (G, D)
    ious = ious * (gt_labels[:, None] == det_labels[None, :])
    candidates = ious >= iou_thr
    # eq. (5): the assignment maximising total IoU over valid pairs
    gain = torch.where(candidates, ious, torch.zeros_like(ious))
    gt_inds, det_inds = linear_sum_assignment(
        gain.cpu().numpy(), maximize=True)
    valid = candidates.cpu().numpy()[gt_inds, det_inds]
    gt_inds = torch.as_tensor(gt_inds[valid], device=device)
    det_inds = torch.as_tensor(det_inds[valid].astype(np.int64), device=device)
    matched_det[gt_inds] = det_inds
    is_matched_det = torch.zeros_like(keep_det)
    is_matched_det[det_inds] = True
    keep_det = is_matched_det | ~candidates.any(dim=0)
    return matched_det, keep_det


def panoptic_matching_targets(
        gt_thing_masks: Tensor,
        gt_thing_boxes: Tensor,
        gt_thing_labels: Tensor,
        gt_semantic: Tensor,
        det_boxes: Tensor,
        det_labels: Tensor,
        num_things_classes: int,
        num_stuff_classes: int,
        iou_thr: float = 0.5,
        ignore_index: int = 255) -> Tuple[Tensor, Tensor]:
    """Per-pixel targets of the panoptic matching loss (eq. (5)).

    Args:
        gt_thing_masks (Tensor): (G, H, W) bool, non-overlapping masks of the
            GT thing segments (crowd regions excluded) at the logits' size.
        gt_thing_boxes (Tensor): (G, 4) their tight boxes in input pixels.
        gt_thing_labels (Tensor): (G,) their classes in [0, N_th).
        gt_semantic (Tensor): (H, W) long, semantic GT (things [0, N_th),
            stuff [N_th, N_th + N_st), ``ignore_index`` void).
        det_boxes (Tensor): (D, 4) predicted boxes in input pixels.
        det_labels (Tensor): (D,) predicted classes.
        num_things_classes (int), num_stuff_classes (int): N_th, N_st.
        iou_thr (float): match threshold ``t``.
        ignore_index (int): label of ignored pixels.

    Returns:
        tuple[Tensor, Tensor]:

        - keep_det (Tensor): (D,) bool, detections fed to the panoptic
          submodule (duplicates removed).
        - targets (Tensor): (H, W) long, channel of ``P`` (kept detections
          in order, then the N_st stuff classes) or ``ignore_index``.
    """
    num_gts = gt_thing_masks.shape[0]
    if gt_thing_boxes.shape[0] != num_gts or \
            gt_thing_labels.shape[0] != num_gts:
        raise ValueError(
            f'{num_gts} GT masks but {gt_thing_boxes.shape[0]} boxes and '
            f'{gt_thing_labels.shape[0]} labels')
    if gt_thing_masks.shape[1:] != gt_semantic.shape:
        raise ValueError(f'GT masks {tuple(gt_thing_masks.shape)} and '
                         f'semantic GT {tuple(gt_semantic.shape)} differ in '
                         'size')
    matched_det, keep_det = match_segments_to_detections(
        gt_thing_boxes, gt_thing_labels, det_boxes, det_labels, iou_thr)
    num_kept = int(keep_det.sum())
    # index of each detection among the kept ones
    kept_index = torch.cumsum(keep_det.long(), dim=0) - 1

    targets = torch.full_like(gt_semantic, ignore_index)
    is_stuff = (gt_semantic >= num_things_classes) & \
        (gt_semantic < num_things_classes + num_stuff_classes)
    targets[is_stuff] = gt_semantic[is_stuff] - num_things_classes + num_kept

    if num_gts:
        channel_of_gt = torch.full_like(matched_det, ignore_index)
        has_match = matched_det >= 0
        channel_of_gt[has_match] = kept_index[matched_det[has_match]]
        covered = gt_thing_masks.any(dim=0)
        owner = gt_thing_masks.to(torch.uint8).argmax(dim=0)  # (H, W)
        # unmatched GT segments (and thing pixels of no segment) are ignored
        targets[covered] = channel_of_gt[owner[covered]]
    return keep_det, targets


def majority_downsample_targets(targets: Tensor,
                                stride: int,
                                size: Tuple[int, int],
                                num_channels: int,
                                ignore_index: int = 255) -> Tensor:
    """Panoptic targets at input resolution -> the logits' grid: each
    ``stride x stride`` cell takes its most frequent value.

    A value of ``P`` at 1/4 stands for the centre of its cell (the
    convention of bilinear upsampling with ``align_corners=False``, and of
    the box regions of :func:`box_region_masks`), which falls between
    pixels. Sampling one pixel of the cell (e.g. pixel ``stride // 2``)
    moves the targets by half a pixel, and the panoptic submodule learns to
    shift things by up to that much (measured on the synthetic data:
    segments 0.1-0.3 px up and left of their ground truth). The majority of
    the cell is symmetric about its centre.

    Args:
        targets (Tensor): (H, W) long channel indices in [0, num_channels)
            or ``ignore_index``.
        stride (int): input pixels per cell.
        size (tuple[int, int]): (h, w) of the grid; the targets are cropped
            or padded with ``ignore_index`` to (h * stride, w * stride).
        num_channels (int): number of channels of ``P``.
        ignore_index (int): ignored value; it wins a cell where it is the
            most frequent value.

    Returns:
        Tensor: (h, w) long; ties go to the lower channel, then to
        ``ignore_index``.
    """
    height, width = size
    full_h, full_w = height * stride, width * stride
    targets = targets[:full_h, :full_w]
    pad_h, pad_w = full_h - targets.shape[0], full_w - targets.shape[1]
    if pad_h or pad_w:
        targets = F.pad(targets, (0, pad_w, 0, pad_h), value=ignore_index)
    is_ignored = targets == ignore_index
    if ((targets < 0) | (targets >= num_channels))[~is_ignored].any():
        raise ValueError(f'targets must be channels in [0, {num_channels}) '
                         f'or {ignore_index}')
    values = torch.where(is_ignored, torch.full_like(targets, num_channels),
                         targets)  # ignore -> last bin
    cell_y = torch.arange(full_h, device=targets.device) // stride
    cell_x = torch.arange(full_w, device=targets.device) // stride
    cell = cell_y[:, None] * width + cell_x[None, :]  # (H, W) cell index
    counts = torch.bincount(
        (cell * (num_channels + 1) + values).flatten(),
        minlength=height * width * (num_channels + 1)).view(
            height, width, num_channels + 1)
    majority = counts.argmax(dim=-1)  # first maximum: the lower channel
    return torch.where(majority == num_channels,
                       torch.full_like(majority, ignore_index), majority)


@MODELS.register_module()
class PanopticMatchingLoss(nn.Module):
    """Match GT segments to predicted detections (eq. (5)), then
    cross-entropy on the panoptic output ``P``.

    The paper calls ``P`` the "panoptic segmentation probabilities" (Sec.
    3.4.2) and computes "a cross-entropy loss" on them (Sec. 3.5): ``Psi`` is
    built from semantic probabilities, scores and mask probabilities, and
    the affinity of :class:`DenseAffinityHead` is row-stochastic, so ``P``
    is non-negative and bounded by 2. ``input_type='probabilities'`` (the
    default) therefore normalises ``P`` over its channels and takes
    ``-log(P_t / sum_k P_k)``. A softmax over such bounded values cannot
    become confident (with 20 channels, a one-hot ``Psi`` gives the right
    channel 0.12 after a softmax), which kept the loss near 1.2 in our
    synthetic training; ``input_type='logits'`` (softmax cross-entropy) is
    kept for heads whose ``P`` are unbounded logits.

    Matching happens before the panoptic submodule runs (:meth:`match`):
    it tells which detections to feed it (duplicates removed) and the
    per-pixel target channel. :meth:`forward` then averages the pixel-wise
    cross-entropy over all non-ignored pixels of the batch.

    Args:
        iou_thr (float): minimum box IoU of a match ``t``. Defaults to 0.5.
        input_type (str): 'probabilities' (``P >= 0``, normalised over
            channels) or 'logits' (softmax). Defaults to 'probabilities'.
        eps (float): added to ``P`` (clamped at 0) before normalising
            ('probabilities' only). Defaults to 1e-6.
        ignore_index (int): ignored target value. Defaults to 255.
        loss_weight (float): weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 *,
                 iou_thr: float = 0.5,
                 input_type: str = 'probabilities',
                 eps: float = 1e-6,
                 ignore_index: int = 255,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if not 0 < iou_thr <= 1:
            raise ValueError(f'iou_thr must be in (0, 1], got {iou_thr}')
        if input_type not in ('probabilities', 'logits'):
            raise ValueError("input_type must be 'probabilities' or "
                             f"'logits', got {input_type!r}")
        self.iou_thr = iou_thr
        self.input_type = input_type
        self.eps = eps
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def match(self, gt_thing_masks: Tensor, gt_thing_boxes: Tensor,
              gt_thing_labels: Tensor, gt_semantic: Tensor, det_boxes: Tensor,
              det_labels: Tensor, num_things_classes: int,
              num_stuff_classes: int) -> Tuple[Tensor, Tensor]:
        """(keep_det (D,) bool, targets (H, W) long) of one image; see
        :func:`panoptic_matching_targets` for the arguments."""
        return panoptic_matching_targets(gt_thing_masks, gt_thing_boxes,
                                         gt_thing_labels, gt_semantic,
                                         det_boxes, det_labels,
                                         num_things_classes, num_stuff_classes,
                                         self.iou_thr, self.ignore_index)

    def log_probabilities(self, panoptic_output: Tensor) -> Tensor:
        """(K, H, W) log-probabilities of ``P`` (K, H, W) per pixel."""
        if self.input_type == 'logits':
            return F.log_softmax(panoptic_output, dim=0)
        # P >= 0 up to rounding; + eps keeps the log finite where every
        # channel is 0 and bounds the gradient of a channel near 0
        shifted = panoptic_output.clamp(min=0) + self.eps
        return shifted.log() - shifted.sum(dim=0, keepdim=True).log()

    def forward(self, panoptic_logits: Sequence[Tensor],
                targets: Sequence[Tensor]) -> Tensor:
        """Cross-entropy of the panoptic logits against matched targets.

        Args:
            panoptic_logits (list[Tensor]): per image, (K_i, H_i, W_i) logits
                ``P`` (K_i differs between images).
            targets (list[Tensor]): per image, (H_i, W_i) long channel index
                or ``ignore_index``.

        Returns:
            Tensor: the weighted mean over non-ignored pixels of the batch
            (0, still connected to the logits, when every pixel is ignored).
        """
        if len(panoptic_logits) != len(targets):
            raise ValueError(f'{len(panoptic_logits)} logits for '
                             f'{len(targets)} targets')
        total: List[Tensor] = []
        num_pixels = 0
        for logits, target in zip(panoptic_logits, targets):
            if logits.shape[1:] != target.shape:
                raise ValueError(f'logits {tuple(logits.shape)} and targets '
                                 f'{tuple(target.shape)} differ in size')
            valid = target != self.ignore_index
            num_pixels += int(valid.sum())
            if logits.shape[0] == 0 or not valid.any():
                total.append(logits.sum() * 0)
                continue
            total.append(
                F.nll_loss(
                    self.log_probabilities(logits)[None],
                    target[None],
                    ignore_index=self.ignore_index,
                    reduction='sum'))
        loss = torch.stack(total).sum() / max(num_pixels, 1)
        return self.loss_weight * loss
