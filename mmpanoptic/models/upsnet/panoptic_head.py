"""UPSNet's parameter-free panoptic head (paper section 3.1, Fig. 3)."""
import copy
from typing import Dict, List

import torch
from mmdet.models.seg_heads.panoptic_fusion_heads import BasePanopticFusionHead
from mmdet.structures import SampleList
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import InstanceList, OptConfigType, OptMultiConfig, PixelList
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from torch import Tensor

from mmpanoptic.registry import MODELS

from .class_assignment import assign_instance_classes, compose_panoptic_map
from .heuristic_combination import heuristic_combination
from .mask_pruning import prune_masks
from .panoptic_logits import (box_pixels, panoptic_logits,
                              panoptic_logits_argmax, sample_mask_logits,
                              select_instances, semantic_maxima)
from .panoptic_targets import (nearest_downsample_targets, panoptic_targets,
                               sample_unknown_instances)

FUSIONS = ('unified', 'heuristic')


# test_cfg of UPSNetPanopticHead: the official code's values
DEFAULT_TEST_CFG = dict(
    fusion='unified',
    # detections fed to the panoptic logits (paper 3.2): class-agnostic NMS
    # 0.5, scores > 0.6, at most 100
    score_thr=0.6,
    nms=dict(type='nms', iou_threshold=0.5, class_agnostic=True),
    max_per_img=100,
    mask_overlap=0.3,
    mask_thr=0.0,
    class_assignment=True,
    stuff_majority=0.5,
    # heuristic combination (UPSNet-C / -CP): detections of the standard
    # path with scores >= 0.6, a mask skipped when < 70 % of it is free
    heuristic_score_thr=0.6,
    heuristic_overlap=0.3,
    stuff_area_limit=4096,
    with_instance_masks=False)


@MODELS.register_module()
class UPSNetPanopticHead(BasePanopticFusionHead):
    """Panoptic logits from the semantic logits X and the mask logits Y:
    ``[X_stuff, X_mask_i + Y_mask_i for each instance, unknown]``.

    Training (:meth:`loss`): at 1/4 resolution on the ground-truth boxes,
    classes and mask-head logits; a random ``unknown_fraction`` of the
    instances is left out, and the thing pixels of no kept instance (those
    left out, crowd and group regions) are the unknown class; gradients
    reach the semantic and mask heads.

    Inference (:meth:`predict`, ``test_cfg``, defaults in
    :data:`DEFAULT_TEST_CFG`):

    - ``fusion='unified'`` (UPSNet): on the detections of the panoptic path
      (:meth:`detection_cfg`: ``score_thr``, ``nms``, ``max_per_img``),
      mask pruning (``mask_overlap``, same class, empty masks dropped),
      panoptic argmax at full resolution, instance class assignment
      (``class_assignment``, ``stuff_majority``), unknown -> VOID,
      stuff-area trimming (``stuff_area_limit``).
    - ``fusion='heuristic'`` (UPSNet-C / -CP): the heuristic combination of
      Kirillov et al. on the standard detections (the RoI head's
      ``test_cfg.rcnn``) with scores >= ``heuristic_score_thr``; a mask is
      skipped when more than ``heuristic_overlap`` of it is taken.

    ``with_instance_masks`` is read by :class:`UPSNet`: binary masks in
    ``pred_instances``.

    Args:
        num_things_classes (int): T.
        num_stuff_classes (int): S.
        unknown_fraction (float): Share of ground-truth instances left out
            of the instance channels in training.
        with_unknown (bool): The unknown class (paper 3.1) in training and
            inference; False is the "no unknown" setting of Table 6 and
            needs ``unknown_fraction=0``.
        loss_panoptic (dict, optional): Pixel-wise loss; None trains no
            panoptic loss (UPSNet-C, Table 6's first row).
        test_cfg (dict, optional): See above.
        init_cfg (dict, optional): Unused (no parameters).
    """

    def __init__(self,
                 num_things_classes: int = 80,
                 num_stuff_classes: int = 53,
                 unknown_fraction: float = 0.3,
                 with_unknown: bool = True,
                 loss_panoptic: OptConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=False,
                     ignore_index=255,
                     avg_non_ignore=True,
                     loss_weight=0.1),
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            num_things_classes=num_things_classes,
            num_stuff_classes=num_stuff_classes,
            test_cfg=test_cfg,
            loss_panoptic=loss_panoptic,
            init_cfg=init_cfg)
        if not 0 <= unknown_fraction < 1:
            raise ValueError('unknown_fraction must be in [0, 1), got '
                             f'{unknown_fraction}')
        if not with_unknown and unknown_fraction > 0:
            raise ValueError(
                f'unknown_fraction={unknown_fraction} trains left-out '
                'instances as unknown, but with_unknown=False has no '
                'unknown class: set unknown_fraction=0')
        self.unknown_fraction = unknown_fraction
        self.with_unknown = with_unknown
        unknown_keys = set(test_cfg or {}) - set(DEFAULT_TEST_CFG)
        if unknown_keys:
            raise ValueError(
                f'unknown test_cfg.panoptic keys {sorted(unknown_keys)}; '
                f'UPSNetPanopticHead knows {sorted(DEFAULT_TEST_CFG)}')
        cfg = copy.deepcopy(DEFAULT_TEST_CFG)
        cfg.update(test_cfg or {})
        if cfg['fusion'] not in FUSIONS:
            raise ValueError(f"test_cfg.fusion must be one of {FUSIONS}, "
                             f"got {cfg['fusion']!r}")
        self.test_cfg = cfg

    @property
    def fusion(self) -> str:
        """``'unified'`` (panoptic logits) or ``'heuristic'``."""
        return self.test_cfg['fusion']

    def detection_cfg(self) -> ConfigDict:
        """mmdet ``rcnn`` test settings of the detections this head fuses
        with ``fusion='unified'`` (the panoptic path; the standard path is
        the RoI head's ``test_cfg``)."""
        return ConfigDict(
            score_thr=self.test_cfg['score_thr'],
            nms=self.test_cfg['nms'],
            max_per_img=self.test_cfg['max_per_img'])

    def loss(self, seg_preds: Tensor, mask_logits: List[Tensor],
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """
        Args:
            seg_preds (Tensor): (B, T + S, h, w) semantic logits at 1/4 of
                the batch input.
            mask_logits (list[Tensor]): per image (N_b, M, M) mask logits of
                the ground-truth instances' classes on their boxes.
            batch_data_samples (list[DetDataSample]): with ``gt_instances``
                (bboxes, labels, masks) and ``gt_sem_seg``.

        Returns:
            dict: ``loss_panoptic``.
        """
        if not self.with_loss:
            return dict()
        height, width = seg_preds.shape[-2:]
        losses = []
        for seg_pred, masks_logits, sample in zip(seg_preds, mask_logits,
                                                  batch_data_samples):
            gt = sample.gt_instances
            sem_seg = sample.gt_sem_seg.sem_seg[0]
            in_h, in_w = sem_seg.shape
            boxes = get_box_tensor(gt.bboxes).to(seg_pred.device)
            scale = boxes.new_tensor(
                [width / in_w, height / in_h, width / in_w, height / in_h])
            keep = sample_unknown_instances(
                len(gt), self.unknown_fraction).to(seg_pred.device)
            instance_masks = sem_seg.new_zeros((len(gt), in_h, in_w),
                                               dtype=torch.bool)
            if len(gt) > 0:
                masks = gt.masks.to_tensor(torch.bool, seg_pred.device)
                mh, mw = min(masks.shape[1], in_h), min(masks.shape[2], in_w)
                instance_masks[:, :mh, :mw] = masks[:, :mh, :mw]
            target = panoptic_targets(sem_seg, instance_masks, keep,
                                      self.num_things_classes,
                                      self.num_stuff_classes,
                                      self.with_unknown)
            target = nearest_downsample_targets(target, (height, width))
            logits = panoptic_logits(seg_pred, boxes[keep] * scale,
                                     gt.labels[keep], masks_logits[keep],
                                     self.num_things_classes,
                                     self.with_unknown)
            losses.append(self.loss_panoptic(logits[None], target[None]))
        return dict(loss_panoptic=torch.stack(losses).mean())

    def predict(self, det_results_list: InstanceList,
                seg_logits_list: List[Tensor], **kwargs) -> PixelList:
        """
        Args:
            det_results_list (list[InstanceData]): per image ``bboxes``
                (N, 4), ``labels`` (N,), ``scores`` (N,) and ``mask_logits``
                (N, M, M, of each detection's class), in the pixels of the
                semantic logits: the panoptic path's detections
                (:meth:`detection_cfg`) for ``fusion='unified'``, the
                standard ones for ``'heuristic'``.
            seg_logits_list (list[Tensor]): per image (T + S, H, W)
                semantic logits.

        Returns:
            list[PixelData]: ``sem_seg`` (1, H, W) int panoptic maps
            (``label + id * INSTANCE_OFFSET``, VOID = T + S) and
            ``semantic_labels`` (1, H, W) long, the argmax of the semantic
            logits (computed for the class assignment anyway).
        """
        return [
            self._predict_single(det_results, seg_logits)
            for det_results, seg_logits in zip(det_results_list,
                                               seg_logits_list)
        ]

    def _predict_single(self, det_results, seg_logits: Tensor) -> PixelData:
        cfg = self.test_cfg
        height, width = seg_logits.shape[-2:]
        if self.fusion == 'heuristic':
            # official rule: instances scoring below the cut are skipped
            det_results = det_results[
                det_results.scores >= cfg['heuristic_score_thr']]
        order = torch.argsort(det_results.scores, descending=True)
        boxes = get_box_tensor(det_results.bboxes)[order]
        labels = det_results.labels[order]
        mask_logits = det_results.mask_logits[order]
        pixels = box_pixels(boxes, height, width)
        mask_values = sample_mask_logits(mask_logits, boxes, pixels)
        maxima = semantic_maxima(seg_logits, self.num_things_classes)
        semantic_labels = maxima.labels(self.num_things_classes)  # C_sem
        if self.fusion == 'heuristic':
            pan = heuristic_combination(
                semantic_labels,
                labels,
                pixels,
                mask_values,
                self.num_things_classes,
                self.num_stuff_classes,
                overlap_thr=cfg['heuristic_overlap'],
                mask_thr=cfg['mask_thr'],
                stuff_area_limit=cfg['stuff_area_limit'])
            return PixelData(
                sem_seg=pan[None].int(),
                semantic_labels=semantic_labels[None])
        keep = prune_masks(
            pixels,
            mask_values,
            labels,
            height,
            width,
            overlap_thr=cfg['mask_overlap'],
            mask_thr=cfg['mask_thr'])
        pixels, mask_values = select_instances(pixels, mask_values, keep)
        labels = labels[keep]
        channel_map = panoptic_logits_argmax(seg_logits, labels, pixels,
                                             mask_values,
                                             self.num_things_classes, maxima,
                                             self.with_unknown)
        if cfg['class_assignment']:
            classes = assign_instance_classes(
                channel_map,
                semantic_labels,
                labels,
                self.num_things_classes,
                self.num_stuff_classes,
                stuff_majority=cfg['stuff_majority'])
        else:  # C_inst, Table 6's rows without "Our ICA"
            classes = labels
        pan = compose_panoptic_map(
            channel_map,
            classes,
            self.num_things_classes,
            self.num_stuff_classes,
            stuff_area_limit=cfg['stuff_area_limit'])
        return PixelData(
            sem_seg=pan[None].int(), semantic_labels=semantic_labels[None])
