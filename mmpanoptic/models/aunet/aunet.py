"""AUNet: Attention-guided Unified Network (Li et al., CVPR 2019).

FG branch: Mask R-CNN (mmdet's RPNHead + StandardRoIHead with an FCNMaskHead,
GN heads in the configs, Mask R-CNN's test settings). BG branch:
:class:`AUNetSemanticHead` on the shared FPN features, attended by PAM (RPN
features) and MAM (mask features put back on the FPN levels by RoIUpsample,
overlapping RoIs averaged, merged into one map). Joint loss eq. (7);
inference fusion :class:`AUNetFusionHead`.
"""
import copy
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.dense_heads import RPNHead
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.models.utils import empty_instances, unpack_gt_instances
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.structures import PixelData
from torch import Tensor

from mmpanoptic.registry import MODELS

from ..building_blocks.two_stage_panoptic import (TwoStagePanopticBase,
                                                  rename_rpn_losses)
from .attention import mask_features_to_levels, merge_level_maps

# eq. (7) lambda_1..4; the COCO setting of sec. 3.4
COCO_LOSS_WEIGHTS = dict(rpn=1.0, rcnn=1.0, mask=1.0, seg=0.3)


def rpn_forward_with_features(rpn_head: RPNHead, x: Sequence[Tensor]
                              ) -> Tuple[List[Tensor], List[Tensor],
                                         List[Tensor]]:
    """mmdet ``RPNHead.forward`` that also returns the RPN branch feature
    P_i = ReLU(rpn_conv(x_i)) of every level (the PAM guidance), computed
    once.

    Returns:
        tuple: cls_scores, bbox_preds, rpn_feats, each a list over levels.
    """
    cls_scores, bbox_preds, rpn_feats = [], [], []
    for feat in x:
        rpn_feat = F.relu(rpn_head.rpn_conv(feat))
        rpn_feats.append(rpn_feat)
        cls_scores.append(rpn_head.rpn_cls(rpn_feat))
        bbox_preds.append(rpn_head.rpn_reg(rpn_feat))
    return cls_scores, bbox_preds, rpn_feats


def mask_head_forward_with_features(
        mask_head: FCNMaskHead, roi_feats: Tensor,
        feature_size: int) -> Tuple[Tensor, Tensor]:
    """mmdet ``FCNMaskHead.forward`` that also returns the FG mask features
    for MAM: the conv stack output (m = 14) or the upsampled one (m = 28).

    Returns:
        tuple[Tensor, Tensor]: mask logits (N, T, 2m', 2m') and mask
        features (N, C_m, m, m).
    """
    feat = roi_feats
    for conv in mask_head.convs:
        feat = conv(feat)
    mask_feats = feat
    if mask_head.upsample is not None:
        feat = mask_head.upsample(feat)
        if mask_head.upsample_method == 'deconv':
            feat = mask_head.relu(feat)
    if feature_size != mask_feats.shape[-1]:
        mask_feats = feat
    if feature_size != mask_feats.shape[-1]:
        raise ValueError(f'mask_feature_size={feature_size} matches neither '
                         'the mask head conv features nor its upsampled '
                         f'ones ({roi_feats.shape[-1]} / '
                         f'{feat.shape[-1]} px)')
    return mask_head.conv_logits(feat), mask_feats


@MODELS.register_module()
class AUNet(TwoStagePanopticBase):
    """Attention-guided Unified Network for panoptic segmentation.

    Args:
        semantic_head (dict): :class:`AUNetSemanticHead` config (PAM / MAM /
            reweight switches live there).
        panoptic_fusion_head (dict): :class:`AUNetFusionHead` config.
        loss_weights (dict, optional): eq. (7) lambdas, all four of
            ``rpn``, ``rcnn``, ``mask``, ``seg``: COCO {1, 1, 1, 0.3}
            (the default), Cityscapes {1, 0.75, 1, 1}.
        mask_feature_size (int): m of the mask features given to MAM, 14
            (mask head conv features) or 28 (upsampled).
        bg_backbone, bg_neck (dict, optional): a separate backbone + neck
            for the BG branch: the "sep" baseline of Table 1 (no shared
            parameters, so joint training equals separate training; PAM and
            MAM must be off).
    """

    def __init__(self,
                 backbone: ConfigType,
                 rpn_head: ConfigType,
                 roi_head: ConfigType,
                 semantic_head: ConfigType,
                 panoptic_fusion_head: ConfigType,
                 train_cfg: ConfigType,
                 test_cfg: ConfigType,
                 neck: OptConfigType = None,
                 loss_weights: Optional[Dict[str, float]] = None,
                 mask_feature_size: int = 28,
                 bg_backbone: OptConfigType = None,
                 bg_neck: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            rpn_head=rpn_head,
            roi_head=roi_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
            semantic_head=semantic_head,
            panoptic_fusion_head=panoptic_fusion_head)
        if not isinstance(self.rpn_head, RPNHead):
            raise TypeError('AUNet needs an mmdet RPNHead (its rpn_conv '
                            'feature guides PAM), got '
                            f'{type(self.rpn_head).__name__}')
        if not (isinstance(self.roi_head, StandardRoIHead)
                and isinstance(self.roi_head.mask_head, FCNMaskHead)
                and not self.roi_head.share_roi_extractor):
            raise TypeError('AUNet needs a StandardRoIHead with an '
                            'FCNMaskHead and its own mask RoI extractor')
        weights = dict(COCO_LOSS_WEIGHTS)
        if loss_weights is not None:
            unknown = set(loss_weights) - set(weights)
            if unknown:
                raise ValueError(f'unknown loss_weights keys {unknown}; '
                                 f'expected {sorted(weights)}')
            missing = set(weights) - set(loss_weights)
            if missing:
                raise ValueError(
                    f'loss_weights lacks {sorted(missing)}: give all four '
                    f'eq. (7) lambdas {sorted(weights)} (a partial dict '
                    'would take the missing ones from the COCO setting)')
            weights.update(loss_weights)
        self.loss_weights = weights
        if self.semantic_head.things_as_one_class != \
                self.panoptic_fusion_head.things_as_one_class:
            raise ValueError(
                'things_as_one_class differs between semantic_head '
                f'({self.semantic_head.things_as_one_class}) and '
                'panoptic_fusion_head '
                f'({self.panoptic_fusion_head.things_as_one_class}): the '
                'fusion would read the BG logits in the wrong classes')
        self.mask_feature_size = mask_feature_size
        if (bg_backbone is None) != (bg_neck is None):
            raise ValueError('bg_backbone and bg_neck go together')
        self.bg_backbone = MODELS.build(bg_backbone) if bg_backbone else None
        self.bg_neck = MODELS.build(bg_neck) if bg_neck else None
        if self.bg_backbone is not None and (self.semantic_head.use_pam or
                                             self.semantic_head.use_mam):
            raise ValueError('a separate BG backbone ("sep") has no FG '
                             'branch features to attend: turn PAM/MAM off')

    # ------------------------------------------------------------------
    def _bg_features(self, batch_inputs: Tensor,
                     x: Tuple[Tensor]) -> Tuple[Tensor]:
        if self.bg_backbone is None:
            return x
        return self.bg_neck(self.bg_backbone(batch_inputs))

    def _mask_maps(self, mask_feats: Tensor, rois: Tensor,
                   bg_feats: Sequence[Tensor],
                   batch_size: int) -> Optional[List[Tensor]]:
        """RoIUpsample the FG mask features onto the BG levels, overlapping
        RoIs averaged (MAM's guidance): one map per level, or the levels
        merged into one with ``mam_position='merged'``."""
        if not self.semantic_head.use_mam:
            return None
        num_levels = self.semantic_head.num_levels
        extractor = self.roi_head.mask_roi_extractor
        maps, counts = mask_features_to_levels(
            mask_feats,
            rois,
            [tuple(f.shape[-2:]) for f in bg_feats[:num_levels]],
            extractor.featmap_strides[:num_levels],
            batch_size,
            finest_scale=extractor.finest_scale)
        if self.semantic_head.mam_position == 'merged':
            return [merge_level_maps(maps, counts)]
        return maps

    def _mask_forward(self, x: Sequence[Tensor],
                      rois: Tensor) -> Tuple[Tensor, Tensor]:
        extractor = self.roi_head.mask_roi_extractor
        roi_feats = extractor(x[:extractor.num_inputs], rois)
        return mask_head_forward_with_features(self.roi_head.mask_head,
                                               roi_feats,
                                               self.mask_feature_size)

    @staticmethod
    def _scaled(losses: dict, weight: float) -> dict:
        """eq. (7): lambda times every loss term of one branch."""
        scaled = {}
        for key, value in losses.items():
            if 'loss' in key:
                value = [v * weight for v in value] if isinstance(
                    value, (list, tuple)) else value * weight
            scaled[key] = value
        return scaled

    # ------------------------------------------------------------------
    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Joint loss eq. (7):
        lambda_1 L_RPN + lambda_2 L_RCNN + lambda_3 L_Mask + lambda_4 L_Seg."""
        x = self.extract_feat(batch_inputs)
        batch_gt_instances, batch_gt_instances_ignore, batch_img_metas = \
            unpack_gt_instances(batch_data_samples)
        losses = dict()

        # RPN branch (class-agnostic targets) and its features P_i
        cls_scores, bbox_preds, rpn_feats = rpn_forward_with_features(
            self.rpn_head, x)
        rpn_gt_instances = copy.deepcopy(batch_gt_instances)
        for gt in rpn_gt_instances:
            gt.labels = torch.zeros_like(gt.labels)
        rpn_losses = self.rpn_head.loss_by_feat(cls_scores, bbox_preds,
                                                rpn_gt_instances,
                                                batch_img_metas,
                                                batch_gt_instances_ignore)
        rpn_losses = rename_rpn_losses(rpn_losses)
        losses.update(self._scaled(rpn_losses, self.loss_weights['rpn']))
        proposal_cfg = self.train_cfg.get('rpn_proposal', self.test_cfg.rpn)
        with torch.no_grad():
            proposals = self.rpn_head.predict_by_feat(
                [s.detach() for s in cls_scores],
                [b.detach() for b in bbox_preds],
                batch_img_metas=batch_img_metas,
                cfg=proposal_cfg)

        # FG branch: mmdet StandardRoIHead.loss, with the mask features kept
        roi_head = self.roi_head
        sampling_results = []
        for i, proposal in enumerate(proposals):
            proposal.priors = proposal.pop('bboxes')
            assign_result = roi_head.bbox_assigner.assign(
                proposal, batch_gt_instances[i], batch_gt_instances_ignore[i])
            sampling_results.append(
                roi_head.bbox_sampler.sample(
                    assign_result,
                    proposal,
                    batch_gt_instances[i],
                    feats=[lvl[i][None] for lvl in x]))
        bbox_results = roi_head.bbox_loss(x, sampling_results)
        losses.update(
            self._scaled(bbox_results['loss_bbox'],
                         self.loss_weights['rcnn']))
        pos_rois = bbox2roi([res.pos_priors for res in sampling_results])
        mask_preds, mask_feats = self._mask_forward(x, pos_rois)
        mask_losses = roi_head.mask_head.loss_and_target(
            mask_preds=mask_preds,
            sampling_results=sampling_results,
            batch_gt_instances=batch_gt_instances,
            rcnn_train_cfg=roi_head.train_cfg)['loss_mask']
        losses.update(self._scaled(mask_losses, self.loss_weights['mask']))

        # BG branch on the attended features
        bg_feats = self._bg_features(batch_inputs, x)
        mask_maps = self._mask_maps(mask_feats, pos_rois, bg_feats,
                                    len(batch_data_samples))
        seg_losses = self.semantic_head.loss(
            bg_feats,
            batch_data_samples,
            rpn_feats=rpn_feats if self.semantic_head.use_pam else None,
            mask_maps=mask_maps)
        losses.update(self._scaled(seg_losses, self.loss_weights['seg']))
        return losses

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True,
                merge_seg_logits: Optional[Callable[[List[Tensor]],
                                                    List[Tensor]]] = None
                ) -> SampleList:
        """Panoptic, semantic and instance prediction.

        ``merge_seg_logits`` (optional) is applied to the per-image BG
        logits before the fusion (test-time augmentation:
        :class:`PanopticTTAModel`).

        Returns:
            list[DetDataSample]: with ``pred_panoptic_seg`` (``sem_seg``
            (1, H, W): label + instance id * INSTANCE_OFFSET, VOID =
            num_classes), ``pred_sem_seg`` (1, H, W) labels in the dataset's
            T + S classes (:func:`semantic_labels`) and ``pred_instances``:
            the FG branch's detections (Mask R-CNN's test settings) with
            ``bboxes``, ``scores``, ``labels`` and binary ``masks``, as
            mmdet's ``CocoMetric`` reads them.
        """
        results_list, seg_preds = self._predict_instances_and_bg(
            batch_inputs, batch_data_samples, rescale)
        if merge_seg_logits is not None:
            seg_preds = merge_seg_logits(seg_preds)
        panoptic = self.panoptic_fusion_head.predict(results_list, seg_preds)
        for sample, instances, pan in zip(batch_data_samples, results_list,
                                          panoptic):
            sample.pred_panoptic_seg = PixelData(sem_seg=pan.sem_seg)
            sample.pred_sem_seg = PixelData(sem_seg=pan.semantic_labels)
            sample.pred_instances = instances
        return batch_data_samples

    def predict_semantic_logits(self, batch_inputs: Tensor,
                                batch_data_samples: SampleList
                                ) -> List[Tensor]:
        """Per image BG-branch logits at the original image size (with this
        view's own PAM and MAM attention): what :class:`PanopticTTAModel`
        averages over views."""
        return self._predict_instances_and_bg(batch_inputs,
                                              batch_data_samples, True)[1]

    def _proposals_with_rpn_features(self, x: Tuple[Tensor],
                                     batch_img_metas: List[dict]) -> tuple:
        """RPN outputs, the PAM guidance features and the test proposals."""
        cls_scores, bbox_preds, rpn_feats = rpn_forward_with_features(
            self.rpn_head, x)
        proposals = self.rpn_head.predict_by_feat(
            cls_scores, bbox_preds, batch_img_metas=batch_img_metas,
            rescale=False)
        return cls_scores, bbox_preds, rpn_feats, proposals

    def _predict_instances_and_bg(self, batch_inputs: Tensor,
                                  batch_data_samples: SampleList,
                                  rescale: bool) -> tuple:
        """FG detections with masks and per-image BG logits. MAM sees the
        detections the fusion lays (score >= its ``score_thr``): RoIs on
        objects, as the positive RoIs it sees in training."""
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        x = self.extract_feat(batch_inputs)
        cls_scores, bbox_preds, rpn_feats, proposals = \
            self._proposals_with_rpn_features(x, batch_img_metas)

        roi_head = self.roi_head
        results_list = roi_head.predict_bbox(
            x, batch_img_metas, proposals, rcnn_test_cfg=roi_head.test_cfg,
            rescale=False)
        mask_rois = bbox2roi([res.bboxes for res in results_list])
        confident = torch.cat([res.scores for res in results_list]) >= \
            self.panoptic_fusion_head.score_thr
        if mask_rois.shape[0] == 0:
            results_list = empty_instances(
                batch_img_metas,
                mask_rois.device,
                task_type='mask',
                instance_results=results_list,
                mask_thr_binary=roi_head.test_cfg.mask_thr_binary)
            mask_feats = x[0].new_zeros(0,
                                        roi_head.mask_head.conv_out_channels,
                                        self.mask_feature_size,
                                        self.mask_feature_size)
        else:
            mask_preds, mask_feats = self._mask_forward(x, mask_rois)
            results_list = roi_head.mask_head.predict_by_feat(
                mask_preds=mask_preds.split(
                    [len(res) for res in results_list], 0),
                results_list=results_list,
                batch_img_metas=batch_img_metas,
                rcnn_test_cfg=roi_head.test_cfg,
                rescale=rescale)

        bg_feats = self._bg_features(batch_inputs, x)
        mask_maps = self._mask_maps(mask_feats[confident],
                                    mask_rois[confident], bg_feats,
                                    len(batch_data_samples))
        seg_preds = self.semantic_head.predict(
            bg_feats,
            batch_img_metas,
            rescale,
            rpn_feats=rpn_feats if self.semantic_head.use_pam else None,
            mask_maps=mask_maps)
        return results_list, seg_preds

    def _forward(self, batch_inputs: Tensor,
                 batch_data_samples: SampleList) -> tuple:
        """Network outputs without post-processing: RPN outputs, detection
        and mask logits of the proposals, BG logits."""
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        x = self.extract_feat(batch_inputs)
        cls_scores, bbox_preds, rpn_feats, proposals = \
            self._proposals_with_rpn_features(x, batch_img_metas)
        rois = bbox2roi([p.bboxes for p in proposals])
        bbox_results = self.roi_head._bbox_forward(x, rois)
        mask_preds, mask_feats = self._mask_forward(x, rois)
        bg_feats = self._bg_features(batch_inputs, x)
        seg_preds = self.semantic_head(
            bg_feats,
            rpn_feats if self.semantic_head.use_pam else None,
            self._mask_maps(mask_feats, rois, bg_feats,
                            len(batch_data_samples)))['seg_preds']
        return (cls_scores, bbox_preds, bbox_results['cls_score'],
                bbox_results['bbox_pred'], mask_preds, seg_preds)
