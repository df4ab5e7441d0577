"""UPSNet: A Unified Panoptic Segmentation Network (Xiong et al., CVPR 2019).

ResNet-FPN backbone, RPN, Mask R-CNN box/mask heads (mmdet's
StandardRoIHead), the deformable semantic head and the parameter-free
panoptic head, trained jointly (8 losses, paper 3.2).
"""
from typing import Callable, List, Optional, Tuple

import torch
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi, get_box_tensor
from mmengine.structures import InstanceData, PixelData
from torch import Tensor

from mmpanoptic.registry import MODELS

from ..building_blocks.mask_paste import paste_masks
from ..building_blocks.two_stage_panoptic import TwoStagePanopticBase


@MODELS.register_module()
class UPSNet(TwoStagePanopticBase):
    """UPSNet detector.

    ``predict`` fills ``pred_panoptic_seg`` (mmdet encoding), ``pred_sem_seg``
    (argmax of the semantic head over thing + stuff classes) and
    ``pred_instances`` (Mask R-CNN detections: bboxes, labels, scores, and
    binary masks when ``test_cfg.panoptic.with_instance_masks``).

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
        return self.test_cfg.panoptic.get('with_instance_masks', False)

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
        rois = bbox2roi(boxes)
        if rois.shape[0] == 0:
            mask_head = self.roi_head.mask_head
            size = mask_head.roi_feat_size[0] * (mask_head.scale_factor or 1)
            return [rois.new_zeros((0, size, size)) for _ in boxes]
        mask_preds = self.roi_head._mask_forward(x, rois)['mask_preds']
        all_labels = torch.cat(labels).long()
        if self.roi_head.mask_head.class_agnostic:
            all_labels = torch.zeros_like(all_labels)
        selected = mask_preds[torch.arange(len(all_labels)), all_labels]
        return list(selected.split([len(b) for b in boxes]))

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
        """
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
        batch_img_metas = [sample.metainfo for sample in batch_data_samples]
        x = self.extract_feat(batch_inputs)
        rpn_results_list = self.rpn_head.predict(x,
                                                 batch_data_samples,
                                                 rescale=False)
        det_results_list = self.roi_head.predict_bbox(
            x,
            batch_img_metas,
            rpn_results_list,
            rcnn_test_cfg=self.roi_head.test_cfg,
            rescale=False)
        mask_logits = self.mask_logits(
            x, [get_box_tensor(res.bboxes) for res in det_results_list],
            [res.labels for res in det_results_list])
        seg_logits_list = self.semantic_head.predict(x, batch_img_metas,
                                                     rescale)
        if merge_seg_logits is not None:
            seg_logits_list = merge_seg_logits(seg_logits_list)
        for det_results, logits, meta in zip(det_results_list, mask_logits,
                                             batch_img_metas):
            det_results.mask_logits = logits
            if rescale:
                # pipelines without Resize (e.g. synthetic) have no factor
                scale = det_results.bboxes.new_tensor(
                    meta.get('scale_factor', (1.0, 1.0))).repeat(1, 2)
                det_results.bboxes = det_results.bboxes / scale
        pan_results_list = self.panoptic_fusion_head.predict(
            det_results_list, seg_logits_list)
        for sample, det_results, seg_logits, pan_results in zip(
                batch_data_samples, det_results_list, seg_logits_list,
                pan_results_list):
            sample.pred_panoptic_seg = PixelData(sem_seg=pan_results.sem_seg)
            sample.pred_sem_seg = PixelData(
                sem_seg=pan_results.semantic_labels)
            sample.pred_instances = self._instances(det_results,
                                                    seg_logits.shape[-2:])
        return batch_data_samples

    def _instances(self, det_results: InstanceData,
                   size: Tuple[int, int]) -> InstanceData:
        instances = InstanceData(bboxes=det_results.bboxes,
                                 labels=det_results.labels,
                                 scores=det_results.scores)
        if self.with_instance_masks:
            height, width = size
            if len(det_results) == 0:
                instances.masks = det_results.bboxes.new_zeros(
                    (0, height, width), dtype=torch.bool)
                return instances
            probs = paste_masks(det_results.mask_logits.sigmoid(),
                                det_results.bboxes, height, width)
            instances.masks = probs >= self.roi_head.test_cfg.get(
                'mask_thr_binary', 0.5)
        return instances

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
