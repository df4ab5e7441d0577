"""UPSNet: A Unified Panoptic Segmentation Network (Xiong et al., CVPR 2019).

ResNet-FPN backbone, RPN, Mask R-CNN box/mask heads (mmdet's
StandardRoIHead), the deformable semantic head and the parameter-free
panoptic head, trained jointly (8 losses, paper 3.2).
"""
from typing import Callable, List, Optional, Tuple

import torch
from mmdet.models.layers import multiclass_nms
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi, get_box_tensor, scale_boxes
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData, PixelData
from torch import Tensor

from mmpanoptic.registry import MODELS

from ..building_blocks.two_stage_panoptic import TwoStagePanopticBase


def _with_scale_factor(img_meta: dict) -> dict:
    """Pipelines without a Resize (e.g. the synthetic one) record no
    ``scale_factor``: theirs is 1."""
    img_meta = dict(img_meta)
    img_meta.setdefault('scale_factor', (1.0, 1.0))
    return img_meta


def detections_after_nms(raw: InstanceData,
                         rcnn_test_cfg: ConfigDict) -> InstanceData:
    """mmdet's ``multiclass_nms`` of class-wise boxes (n, C * 4 or 4) and
    scores (n, C + 1) with ``score_thr``, ``nms`` and ``max_per_img``."""
    bboxes, labels = multiclass_nms(
        get_box_tensor(raw.bboxes), raw.scores, rcnn_test_cfg.score_thr,
        rcnn_test_cfg.nms, rcnn_test_cfg.max_per_img)
    return InstanceData(
        bboxes=bboxes[:, :-1], scores=bboxes[:, -1], labels=labels)


def select_class_masks(mask_preds: Tensor, labels: Tensor) -> Tensor:
    """(N, M, M) logits of each detection's class from (N, C, M, M) (or
    (N, 1, M, M) of a class-agnostic mask head)."""
    if mask_preds.shape[1] == 1:
        return mask_preds[:, 0]
    return mask_preds[torch.arange(len(labels)), labels.long()]


@MODELS.register_module()
class UPSNet(TwoStagePanopticBase):
    """UPSNet detector.

    ``predict`` fills ``pred_panoptic_seg`` (mmdet encoding), ``pred_sem_seg``
    (argmax of the semantic head over thing + stuff classes, for mIoU) and
    ``pred_instances`` (Mask R-CNN's standard detections: bboxes, labels,
    scores, and binary masks when ``test_cfg.panoptic.with_instance_masks``,
    for box and mask AP).

    Multi-scale + flip testing (UPSNet-M, paper 4: semantic logits averaged
    over scales and flips, the instance head at a single scale) is
    :class:`PanopticTTAModel` (``tools/test.py --tta`` with the config's
    ``tta_model`` and ``tta_pipeline``).

    Args:
        backbone, neck, rpn_head, roi_head: as mmdet's Mask R-CNN.
        semantic_head (dict): :class:`UPSNetSemanticHead` config.
        panoptic_fusion_head (dict): :class:`UPSNetPanopticHead` config; its
            ``test_cfg`` is ``test_cfg.panoptic``.
        train_cfg, test_cfg (dict): ``rpn``, ``rpn_proposal``, ``rcnn`` as in
            mmdet; ``test_cfg.panoptic`` for the panoptic head, and its
            ``with_instance_masks`` (default False) adds binary masks to
            ``pred_instances``.
    """

    @property
    def with_instance_masks(self) -> bool:
        """Whether ``pred_instances`` gets binary masks."""
        return self.panoptic_fusion_head.test_cfg['with_instance_masks']

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> dict:
        """Joint losses: RPN, box, mask, semantic, RoI, panoptic.

        Args:
            batch_inputs (Tensor): (B, 3, H, W) normalised images.
            batch_data_samples (list[DetDataSample]): with ``gt_instances``
                (bboxes, labels, masks) and ``gt_sem_seg``.

        Returns:
            dict[str, Tensor]: named losses.
        """
        x = self.extract_feat(batch_inputs)
        losses = dict()

        rpn_losses, rpn_results_list = self.rpn_loss_and_proposals(
            x, batch_data_samples)
        losses.update(rpn_losses)
        losses.update(
            self.roi_head.loss(x, rpn_results_list, batch_data_samples))

        seg_preds = self.semantic_head(x)['seg_preds']
        losses.update(
            self.semantic_head.loss_by_feat(seg_preds, batch_data_samples))
        if self.panoptic_fusion_head.with_loss:
            gt_boxes = [
                get_box_tensor(sample.gt_instances.bboxes)
                for sample in batch_data_samples
            ]
            gt_labels = [
                sample.gt_instances.labels for sample in batch_data_samples
            ]
            mask_logits = self.mask_logits(x, gt_boxes, gt_labels)
            losses.update(
                self.panoptic_fusion_head.loss(seg_preds, mask_logits,
                                               batch_data_samples))
        return losses

    def mask_logits(self, x: Tuple[Tensor], boxes: List[Tensor],
                    labels: List[Tensor]) -> List[Tensor]:
        """Mask-head logits of each box's class.

        Args:
            x (tuple[Tensor]): FPN levels.
            boxes (list[Tensor]): per image (N_b, 4) at the input scale.
            labels (list[Tensor]): per image (N_b,) thing classes.

        Returns:
            list[Tensor]: per image (N_b, M, M).
        """
        return [
            select_class_masks(mask_preds, image_labels)
            for mask_preds, image_labels in zip(
                self.mask_preds(x, boxes), labels)
        ]

    def mask_preds(self, x: Tuple[Tensor],
                   boxes: List[Tensor]) -> List[Tensor]:
        """Mask-head logits of all classes on each image's boxes (at the
        input scale).

        Returns:
            list[Tensor]: per image (N_b, C_mask, M, M).
        """
        rois = bbox2roi(boxes)
        if rois.shape[0] == 0:
            mask_head = self.roi_head.mask_head
            size = mask_head.roi_feat_size[0] * (mask_head.scale_factor or 1)
            channels = 1 if mask_head.class_agnostic else mask_head.num_classes
            return [rois.new_zeros((0, channels, size, size)) for _ in boxes]
        mask_preds = self.roi_head._mask_forward(x, rois)['mask_preds']
        return list(mask_preds.split([len(b) for b in boxes]))

    def predict_semantic_logits(
            self, batch_inputs: Tensor,
            batch_data_samples: SampleList) -> List[Tensor]:
        """Per image (T + S, H, W) semantic logits at the original image
        size: what :class:`PanopticTTAModel` averages over views (UPSNet-M).
        """
        return self.semantic_head.predict(
            self.extract_feat(batch_inputs),
            [sample.metainfo for sample in batch_data_samples],
            rescale=True)

    def predict(
        self,
        batch_inputs: Tensor,
        batch_data_samples: SampleList,
        rescale: bool = True,
        merge_seg_logits: Optional[Callable[[List[Tensor]],
                                            List[Tensor]]] = None
    ) -> SampleList:
        """Two detection paths from one pass of the box head, as the
        official model: the standard one (``test_cfg.rcnn``: score 0.05,
        per-class NMS, at most 100) gives ``pred_instances`` and feeds the
        heuristic combination of UPSNet-C / -CP; the panoptic one (the
        panoptic head's :meth:`~UPSNetPanopticHead.detection_cfg`: score
        0.6, class-agnostic NMS) feeds the panoptic logits only.

        Args:
            batch_inputs (Tensor): (B, 3, H, W).
            batch_data_samples (list[DetDataSample]): with metainfo.
            rescale (bool): Results at the original image size.
            merge_seg_logits (callable, optional): applied to the per-image
                semantic logits before the panoptic head (test-time
                augmentation: :class:`PanopticTTAModel`).

        Returns:
            list[DetDataSample]: with ``pred_panoptic_seg``,
            ``pred_sem_seg`` and ``pred_instances``.
        """
        batch_img_metas = [
            _with_scale_factor(sample.metainfo)
            for sample in batch_data_samples
        ]
        fusion_head = self.panoptic_fusion_head
        x = self.extract_feat(batch_inputs)
        rpn_results_list = self.rpn_head.predict(x,
                                                 batch_data_samples,
                                                 rescale=False)
        # class-wise boxes and scores of every proposal, before any NMS
        raw_list = self.roi_head.predict_bbox(
            x, batch_img_metas, rpn_results_list, rcnn_test_cfg=None,
            rescale=False)
        standard_list = [
            detections_after_nms(raw, self.roi_head.test_cfg)
            for raw in raw_list
        ]
        if fusion_head.fusion == 'unified':
            fused_list = [
                detections_after_nms(raw, fusion_head.detection_cfg())
                for raw in raw_list
            ]
        else:
            fused_list = standard_list
        standard_masks = None
        if self.with_instance_masks or fused_list is standard_list:
            standard_masks = self.mask_preds(
                x, [d.bboxes for d in standard_list])
        fused_masks = standard_masks if fused_list is standard_list else \
            self.mask_preds(x, [d.bboxes for d in fused_list])

        seg_logits_list = self.semantic_head.predict(x, batch_img_metas,
                                                     rescale)
        if merge_seg_logits is not None:
            seg_logits_list = merge_seg_logits(seg_logits_list)
        fused_results = []
        for detections, mask_preds, meta in zip(fused_list, fused_masks,
                                                batch_img_metas):
            fused = detections.clone()
            fused.mask_logits = select_class_masks(mask_preds,
                                                   detections.labels)
            if rescale:
                fused.bboxes = scale_boxes(
                    fused.bboxes, [1 / s for s in meta['scale_factor']])
            fused_results.append(fused)
        pan_results_list = fusion_head.predict(fused_results,
                                               seg_logits_list)
        for i, (sample, pan_results) in enumerate(
                zip(batch_data_samples, pan_results_list)):
            sample.pred_panoptic_seg = PixelData(sem_seg=pan_results.sem_seg)
            sample.pred_sem_seg = PixelData(
                sem_seg=pan_results.semantic_labels)
            sample.pred_instances = self._instances(
                standard_list[i], None if standard_masks is None else
                standard_masks[i], batch_img_metas[i], rescale)
        return batch_data_samples

    def _instances(self, detections: InstanceData,
                   mask_preds: Optional[Tensor], img_meta: dict,
                   rescale: bool) -> InstanceData:
        """``pred_instances`` of the standard path: boxes, labels, scores,
        and with ``with_instance_masks`` Mask R-CNN's binary masks (mmdet's
        pasting and ``test_cfg.rcnn.mask_thr_binary``), for mmdet's
        ``CocoMetric``."""
        instances = InstanceData(
            bboxes=detections.bboxes.clone(),
            labels=detections.labels,
            scores=detections.scores)
        if not self.with_instance_masks:
            if rescale:
                instances.bboxes = scale_boxes(
                    instances.bboxes,
                    [1 / s for s in img_meta['scale_factor']])
            return instances
        # rescales the boxes in place and pastes at the output size
        return self.roi_head.mask_head.predict_by_feat(
            mask_preds=(mask_preds, ),
            results_list=[instances],
            batch_img_metas=[img_meta],
            rcnn_test_cfg=self.roi_head.test_cfg,
            rescale=rescale)[0]

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: Optional[SampleList] = None) -> tuple:
        """Raw outputs without post-processing: the RoI head's outputs (as
        mmdet's ``TwoStageDetector``) and the semantic logits
        (B, T + S, H/4, W/4)."""
        x = self.extract_feat(batch_inputs)
        rpn_results_list = self.rpn_head.predict(x,
                                                 batch_data_samples,
                                                 rescale=False)
        roi_outs = self.roi_head.forward(x, rpn_results_list,
                                         batch_data_samples)
        return (roi_outs, self.semantic_head(x)['seg_preds'])
