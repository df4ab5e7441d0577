"""Unifying training and inference for panoptic segmentation (Li, Qi, Torr,
"Unifying Training and Inference for Panoptic Segmentation", CVPR 2020).

Backbone + SE-FPN, a semantic submodule (UPSNet's head with GN), a Faster
(or Mask) R-CNN detection submodule, and the panoptic submodule: the dynamic
potential head (eq. (1)-(2)) and the dense instance affinity head
(eq. (3)-(4)), trained end to end with the panoptic matching loss (eq. (5))
on *predicted* detections (appendix A.4; the GT boxes at score 1.0 of
Table H's top row are an option). Inference is the argmax of the
panoptic logits, with no heuristics (optionally mmdet's heuristic merger,
for the ablation models C1 and D1 of Table 1).
"""
import math
from typing import Dict, List, Optional, Tuple

import torch
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi, get_box_tensor, scale_boxes
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData, PixelData
from torch import Tensor

from mmpanoptic.ops.resample import upsample_argmax
from mmpanoptic.registry import MODELS

from ..building_blocks.two_stage_panoptic import TwoStagePanopticBase
from .full_resolution import full_resolution_logits
from .panoptic_matching import majority_downsample_targets

# the detections the panoptic submodule is trained on (appendix A.4, Table H)
TRAIN_DETECTIONS = ('predicted', 'ground_truth')


@MODELS.register_module()
class UnifyingPanopticSegmentor(TwoStagePanopticBase):
    """Panoptic segmentor with a dynamic potential and a dense instance
    affinity, trained and tested with the same logic.

    Args:
        backbone, neck, rpn_head, roi_head (dict): as mmdet's
            ``TwoStageDetector`` (the roi head may or may not have a mask
            head).
        semantic_head (dict): semantic submodule, e.g. ``UPSNetSemanticHead``
            with GN; its ``seg_preds`` (B, N_th + N_st, H/4, W/4) are ``V``'s
            logits.
        potential_head (dict): ``DynamicPotentialHead``.
        affinity_head (dict, optional): ``DenseAffinityHead``; None uses the
            potential as the panoptic logits (Table 1 models A, C).
        loss_panoptic (dict, optional): ``PanopticMatchingLoss``; needs an
            affinity head (the potential alone has nothing to train).
        panoptic_fusion_head (dict): :class:`UnifyingPanopticHead`, the
            inference (argmax of ``P``, or the heuristic of models C1, D1,
            which needs a mask head).
        train_cfg (dict): mmdet's ``rpn``, ``rpn_proposal``, ``rcnn`` and,
            with a panoptic loss, ``panoptic``: the R-CNN test settings
            (``score_thr``, ``nms``, ``max_per_img``) of the detections fed
            to the panoptic submodule during training, ``detections``
            ('predicted', the default and the paper's model, or
            'ground_truth': the GT boxes at score 1.0, the top row of
            Table H) and ``full_resolution`` (default False): the matching
            loss on ``P`` at input resolution as ``full_resolution_argmax``
            evaluates it (small inputs only: D + N_st full-size maps per
            image).
        test_cfg (dict): mmdet's ``rpn``, ``rcnn`` (detections in
            ``pred_instances``) and ``panoptic``: the
            :class:`UnifyingPanopticHead` settings.
        data_preprocessor (dict): must pad masks and semantic maps
            (``pad_mask=True``, ``pad_seg=True``) for training.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 rpn_head: ConfigType,
                 roi_head: ConfigType,
                 semantic_head: ConfigType,
                 panoptic_fusion_head: ConfigType,
                 potential_head: ConfigType,
                 affinity_head: OptConfigType = None,
                 loss_panoptic: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            rpn_head=rpn_head,
            roi_head=roi_head,
            semantic_head=semantic_head,
            panoptic_fusion_head=panoptic_fusion_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.potential_head = MODELS.build(potential_head)
        potential_counts = (self.potential_head.num_things_classes,
                            self.potential_head.num_stuff_classes)
        if potential_counts != (self.num_things_classes,
                                self.num_stuff_classes):
            raise ValueError(
                f'potential_head has {potential_counts} (things, stuff) '
                f'classes but panoptic_fusion_head {self.num_things_classes}'
                f', {self.num_stuff_classes}')
        self.affinity_head = MODELS.build(affinity_head) \
            if affinity_head is not None else None
        if loss_panoptic is not None and self.affinity_head is None:
            raise ValueError('loss_panoptic needs an affinity_head: the '
                             'dynamic potential has no parameters to train')
        self.loss_panoptic = MODELS.build(loss_panoptic) \
            if loss_panoptic is not None else None
        if self.loss_panoptic is not None and (
                train_cfg is None or 'panoptic' not in train_cfg):
            raise ValueError('train_cfg.panoptic (score_thr, nms, '
                             'max_per_img of the detections fed to the '
                             'panoptic submodule in training) is required '
                             'with loss_panoptic')
        panoptic_train_cfg = dict((train_cfg or {}).get('panoptic', {}))
        # the matching loss on P at input resolution, computed as
        # full_resolution_argmax computes it at inference (instead of on
        # the 1/4 grid with majority-downsampled targets)
        self.full_resolution_loss = bool(
            panoptic_train_cfg.get('full_resolution', False))
        self.train_detections = panoptic_train_cfg.get(
            'detections', 'predicted')
        if self.train_detections not in TRAIN_DETECTIONS:
            raise ValueError(
                f'train_cfg.panoptic.detections must be one of '
                f'{TRAIN_DETECTIONS}, got {self.train_detections!r}')
        if self.panoptic_fusion_head.inference == 'heuristic' and \
                not self.roi_head.with_mask:
            raise ValueError("test_cfg.panoptic.inference='heuristic' needs "
                             'a mask head')

    # ------------------------------------------------------------ detection
    def _detect(self, x: Tuple[Tensor], batch_img_metas: List[dict],
                proposals: List[InstanceData],
                rcnn_cfg: ConfigDict) -> Tuple[List[InstanceData], list]:
        """Detections (boxes in input pixels) of every image, differentiable
        with respect to their scores (and mask probabilities).

        Returns:
            tuple: per image an ``InstanceData`` with ``bboxes``, ``scores``,
            ``labels`` (+ ``mask_probs`` (D, s, s) with a mask head), and per
            image the raw mask logits (D, K, s, s) (None without masks).
        """
        detections = self.roi_head.predict_bbox(
            x, batch_img_metas, proposals, rcnn_test_cfg=rcnn_cfg,
            rescale=False)
        for det in detections:
            det.bboxes = get_box_tensor(det.bboxes)
        return detections, self._add_mask_probs(x, detections)

    def _gt_detections(self, x: Tuple[Tensor],
                       batch_data_samples: SampleList) -> List[InstanceData]:
        """The GT boxes as detections at score 1.0 (Table H, top row), with
        the mask head's probabilities on them when there is a mask head."""
        detections = []
        for sample in batch_data_samples:
            gt = sample.gt_instances
            bboxes = get_box_tensor(gt.bboxes)
            detections.append(
                InstanceData(
                    bboxes=bboxes,
                    scores=bboxes.new_ones(bboxes.shape[0]),
                    labels=gt.labels))
        self._add_mask_probs(x, detections)
        return detections

    def _add_mask_probs(self, x: Tuple[Tensor],
                        detections: List[InstanceData]) -> list:
        """Adds ``mask_probs`` (D, s, s) of each detection's class to the
        detections (with a mask head); returns per image the raw mask
        logits (D, K, s, s), None without masks."""
        if not self.roi_head.with_mask:
            return [None] * len(detections)
        rois = bbox2roi([det.bboxes.detach() for det in detections])
        if rois.shape[0] == 0:
            mask_preds = x[0].new_zeros((0, 1, 1, 1))
        else:
            mask_preds = self.roi_head._mask_forward(x, rois)['mask_preds']
        mask_preds = mask_preds.split([len(det) for det in detections], 0)
        for det, preds in zip(detections, mask_preds):
            channel = torch.zeros_like(det.labels) \
                if preds.shape[1] == 1 else det.labels
            rows = torch.arange(len(det), device=preds.device)
            det.mask_probs = preds[rows, channel].sigmoid()
        return list(mask_preds)

    # --------------------------------------------------------------- shapes
    @staticmethod
    def _stride_and_valid_size(img_meta: dict,
                               logits: Tensor) -> Tuple[int, int, int]:
        """Stride of (B, C, h, w) logits in the padded batch and the size of
        an image's valid (unpadded) region on them."""
        batch_height = img_meta['batch_input_shape'][0]
        stride = batch_height // logits.shape[-2]
        if stride * logits.shape[-2] != batch_height:
            raise ValueError(
                f'batch input height {batch_height} is not a multiple of the '
                f'logits height {logits.shape[-2]}: pad the batch (e.g. '
                'pad_size_divisor=32)')
        img_h, img_w = img_meta['img_shape'][:2]
        return stride, math.ceil(img_h / stride), math.ceil(img_w / stride)

    # ----------------------------------------------------------------- loss
    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """RPN, R-CNN, semantic and panoptic matching losses.

        Args:
            batch_inputs (Tensor): (B, 3, H, W) images.
            batch_data_samples (list[DetDataSample]): with ``gt_instances``
                (bboxes, labels, masks), ``gt_sem_seg``.

        Returns:
            dict[str, Tensor]: losses.
        """
        batch_img_metas = [sample.metainfo for sample in batch_data_samples]
        x = self.extract_feat(batch_inputs)
        losses = dict()

        rpn_losses, rpn_results_list = self.rpn_loss_and_proposals(
            x, batch_data_samples)
        losses.update(rpn_losses)
        # roi_head.loss renames the proposals' bboxes: keep a copy
        proposals = [
            InstanceData(bboxes=result.bboxes.detach())
            for result in rpn_results_list
        ]
        losses.update(
            self.roi_head.loss(x, rpn_results_list, batch_data_samples))

        seg_preds = self.semantic_head(x)['seg_preds']
        losses.update(
            self.semantic_head.loss_by_feat(seg_preds, batch_data_samples))

        if self.loss_panoptic is not None:
            if self.train_detections == 'ground_truth':
                detections = self._gt_detections(x, batch_data_samples)
            else:
                # appendix A.4: the panoptic submodule sees predicted
                # detections
                detection_cfg = ConfigDict(self.train_cfg.panoptic)
                detection_cfg.pop('full_resolution', None)
                detection_cfg.pop('detections', None)
                detections, _ = self._detect(x, batch_img_metas, proposals,
                                             detection_cfg)
            losses['loss_panoptic'] = self._panoptic_loss(
                x, seg_preds, detections, batch_data_samples)
        return losses

    def _panoptic_loss(self, x: Tuple[Tensor], seg_preds: Tensor,
                       detections: List[InstanceData],
                       batch_data_samples: SampleList) -> Tensor:
        """Panoptic matching loss (eq. (5)) of the batch."""
        affinity_feats = self.affinity_head(x)
        panoptic_logits, targets = [], []
        for i, sample in enumerate(batch_data_samples):
            stride, height, width = self._stride_and_valid_size(
                sample.metainfo, seg_preds)
            gt = sample.gt_instances
            # targets at input resolution (masks and semantic map padded to
            # the batch); P is brought to them (full_resolution) or they to
            # P's grid (the majority of each cell)
            gt_masks = gt.masks.to_tensor(
                dtype=torch.bool, device=seg_preds.device)
            keep, target = self.loss_panoptic.match(
                gt_masks, get_box_tensor(gt.bboxes), gt.labels,
                sample.gt_sem_seg.sem_seg[0].long(), detections[i].bboxes,
                detections[i].labels, self.num_things_classes,
                self.num_stuff_classes)
            detections_i = detections[i][keep]
            semantic_logits = seg_preds[i, :, :height, :width]
            potential = self.potential_head(semantic_logits, detections_i,
                                            stride)
            logits = self.affinity_head.propagate(
                potential, affinity_feats[i, :, :height, :width])
            if self.full_resolution_loss:
                img_h, img_w = sample.metainfo['img_shape'][:2]
                logits = full_resolution_logits(
                    logits, potential, semantic_logits, detections_i.bboxes,
                    detections_i.scores, detections_i.labels,
                    detections_i.get('mask_probs', None),
                    self.potential_head.variant, (img_h, img_w), stride)
                target = target[:img_h, :img_w]
            else:
                target = majority_downsample_targets(
                    target, stride, (height, width),
                    int(keep.sum()) + self.num_stuff_classes,
                    self.loss_panoptic.ignore_index)
            panoptic_logits.append(logits)
            targets.append(target)
        return self.loss_panoptic(panoptic_logits, targets)

    # -------------------------------------------------------------- predict
    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Panoptic, semantic and detection results.

        Returns:
            list[DetDataSample]: with ``pred_panoptic_seg`` (``sem_seg``
            (1, H, W): label + instance id * INSTANCE_OFFSET, VOID =
            num_classes), ``pred_sem_seg`` (1, H, W) and ``pred_instances``
            (bboxes, scores, labels, and masks with a mask head).
        """
        batch_img_metas = [sample.metainfo for sample in batch_data_samples]
        x = self.extract_feat(batch_inputs)
        proposals = self.rpn_head.predict(
            x, batch_data_samples, rescale=False)
        detections, mask_preds = self._detect(x, batch_img_metas, proposals,
                                              self.roi_head.test_cfg)
        seg_preds = self.semantic_head(x)['seg_preds']
        affinity_feats = self.affinity_head(x) \
            if self.affinity_head is not None else None

        for i, sample in enumerate(batch_data_samples):
            meta = sample.metainfo
            stride, height, width = self._stride_and_valid_size(
                meta, seg_preds)
            out_size = tuple(meta['ori_shape'][:2]) if rescale else \
                tuple(meta['img_shape'][:2])
            semantic_logits = seg_preds[i, :, :height, :width]
            instances = self._instances_for_output(detections[i],
                                                   mask_preds[i], meta,
                                                   rescale)
            sample.pred_instances = instances
            sample.pred_sem_seg = PixelData(
                sem_seg=upsample_argmax(semantic_logits, meta['img_shape'],
                                        out_size, stride)[None])
            panoptic_head = self.panoptic_fusion_head
            confident = detections[i].scores >= panoptic_head.score_thr
            if panoptic_head.inference == 'heuristic':
                sample.pred_panoptic_seg = panoptic_head.predict(
                    instances=instances[confident],
                    semantic_logits=semantic_logits,
                    img_meta=meta,
                    out_size=out_size,
                    stride=stride)
                continue
            kept = detections[i][confident]
            potential = self.potential_head(semantic_logits, kept, stride)
            panoptic_logits = potential if self.affinity_head is None else \
                self.affinity_head.propagate(
                    potential, affinity_feats[i, :, :height, :width])
            sample.pred_panoptic_seg = panoptic_head.predict(
                panoptic_logits=panoptic_logits,
                potential=potential,
                semantic_logits=semantic_logits,
                detections=kept,
                img_meta=meta,
                out_size=out_size,
                stride=stride,
                variant=self.potential_head.variant)
        return batch_data_samples

    def _instances_for_output(self, detections: InstanceData,
                              mask_preds: Optional[Tensor], img_meta: dict,
                              rescale: bool) -> InstanceData:
        """Detections as ``pred_instances`` (binary masks at output size)."""
        # pipelines without a Resize (e.g. the synthetic one) set no scale
        img_meta = dict(img_meta)
        img_meta.setdefault('scale_factor', (1.0, 1.0))
        instances = InstanceData(
            bboxes=detections.bboxes.detach().clone(),
            scores=detections.scores.detach(),
            labels=detections.labels)
        if mask_preds is not None:
            return self.roi_head.mask_head.predict_by_feat(
                mask_preds=(mask_preds.detach(), ),
                results_list=[instances],
                batch_img_metas=[img_meta],
                rcnn_test_cfg=self.roi_head.test_cfg,
                rescale=rescale)[0]
        if rescale and len(instances):
            instances.bboxes = scale_boxes(
                instances.bboxes, [1 / s for s in img_meta['scale_factor']])
        return instances

    def _forward(self, batch_inputs: Tensor,
                 batch_data_samples: SampleList) -> tuple:
        """Tensors of every submodule without post-processing: RPN outputs,
        R-CNN outputs on the proposals, semantic logits and (if any)
        affinity features."""
        x = self.extract_feat(batch_inputs)
        rpn_outs = self.rpn_head(x)
        batch_img_metas = [sample.metainfo for sample in batch_data_samples]
        proposals = self.rpn_head.predict_by_feat(
            *rpn_outs, batch_img_metas=batch_img_metas, rescale=False)
        results = rpn_outs + self.roi_head(x, proposals)
        results = results + (self.semantic_head(x)['seg_preds'], )
        if self.affinity_head is not None:
            results = results + (self.affinity_head(x), )
        return results
