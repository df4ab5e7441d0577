"""The Panoptic FCN head: kernel generator + kernel fusion + feature encoder
(paper Fig. 2), with mmdet's head API (``forward``, ``loss``,
``predict``)."""
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.structures import DetDataSample, SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule, normal_init
from mmengine.structures import InstanceData, PixelData
from torch import Tensor, nn

from mmpanoptic.ops.resample import upsample_argmax, upsample_threshold
from mmpanoptic.registry import MODELS

from .kernel_fusion import (STUFF_KERNEL_AVERAGES, fuse_stuff_kernels,
                            fuse_thing_kernels, pool_stuff_kernels)
from .postprocessing import (combine_things_and_stuff, maskness_rescore,
                             stuff_candidates, thing_candidates)
from .target_generation import (COCO_INSTANCE_SCALES, resize_stuff_targets,
                                stuff_one_hot, thing_level_targets)

HeadOutputs = Tuple[List[Tensor], List[Tensor], List[Tensor], Tensor]


def masks_to_boxes(masks: Tensor) -> Tensor:
    """Tight boxes of binary masks. (M, H, W) bool -> (M, 4) x1y1x2y2."""
    num, height, width = masks.shape
    if num == 0:
        return masks.new_zeros((0, 4), dtype=torch.float32)
    as_bytes = masks.view(torch.uint8)  # amax on uint8 beats any on bool
    cols = as_bytes.amax(dim=1) > 0  # (M, W)
    rows = as_bytes.amax(dim=2) > 0  # (M, H)
    col_index = torch.arange(width, device=masks.device)
    row_index = torch.arange(height, device=masks.device)
    x1 = torch.where(cols, col_index, width).min(dim=1).values
    x2 = torch.where(cols, col_index, -1).max(dim=1).values + 1
    y1 = torch.where(rows, row_index, height).min(dim=1).values
    y2 = torch.where(rows, row_index, -1).max(dim=1).values + 1
    boxes = torch.stack([x1, y1, x2, y2], dim=1).float()
    boxes[~cols.any(dim=1)] = 0
    return boxes


@MODELS.register_module()
class PanopticFCNHead(BaseModule):
    """Panoptic FCN head (Li et al., CVPR 2021).

    Args:
        num_things_classes (int): N_th (things are labels [0, T)).
        num_stuff_classes (int): N_st (stuff are labels [T, T + S)).
        in_channels (int): FPN channels.
        kernel_levels (sequence of int): neck outputs fed to the kernel
            generator, P3..P7 = (1, 2, 3, 4, 5) for a P2..P7 neck.
        encoder_levels (sequence of int): neck outputs merged by the semantic
            FPN, P2..P5 = (0, 1, 2, 3).
        position_head (dict): :class:`PositionHead` arguments (its
            in_channels and class counts are filled in here).
        kernel_head (dict): :class:`KernelHead` arguments.
        semantic_fpn (dict): :class:`SemanticFPNFeature` arguments.
        feature_encoder (dict): :class:`FeatureEncoder` arguments.
        stuff_with_things (bool): one extra stuff channel for "all things"
            (the official 54-channel COCO stuff map). Defaults to True.
        instance_scales (sequence): sqrt(box area) ranges per kernel level.
        min_overlap (float): CornerNet radius overlap. Defaults to 0.7.
        sigma_factor (float): Gaussian diameter / sigma. Defaults to 3.
        num_weighted_kernels (int): k of the weighted Dice (Table 6): 7
            (3 for the 400/512 models, 5 for 600).
        stuff_kernel_average (str): a stuff kernel is the kernel map summed
            over the region divided by the level's H * W ('image', the
            official code's adaptive average pool, default) or by the
            region's area ('region', the paper's wording); training and
            inference alike.
        loss_position (dict): focal loss of eq. (2) (mmdet ``FocalLoss``,
            its PyTorch path since the targets are soft).
        loss_segment (dict): :class:`WeightedDiceLoss` (lambda_seg).
        test_cfg (dict): inference settings, see ``DEFAULT_TEST_CFG``.
    """

    DEFAULT_TEST_CFG = dict(
        center_top_k=50,  # peaks per level (official: 100 // 2)
        center_score_thr=0.05,
        smooth_kernel_sizes=(3, 3, 3, 5, 5),  # official heatmap smoothing
        stuff_score_thr=0.05,
        similarity_thr=0.9,  # kernel fusion (Table 3; Cityscapes 0.95)
        class_aware_fusion=True,
        max_things=100,  # App. A.2 (Cityscapes 200)
        mask_thr=0.4,  # App. A.2 (Cityscapes 0.5)
        thing_score_thr=0.05,  # after maskness rescoring
        panoptic_thing_score_thr=0.2,
        overlap_thr=0.5,
        stuff_area_limit=4096)

    def __init__(self,
                 num_things_classes: int = 80,
                 num_stuff_classes: int = 53,
                 in_channels: int = 256,
                 kernel_levels: Sequence[int] = (1, 2, 3, 4, 5),
                 encoder_levels: Sequence[int] = (0, 1, 2, 3),
                 position_head: ConfigType = dict(
                     channels=256, num_convs=3, deformable=True),
                 kernel_head: ConfigType = dict(channels=256, num_convs=3),
                 semantic_fpn: ConfigType = dict(channels=256),
                 feature_encoder: ConfigType = dict(
                     channels=64, num_convs=3, deformable=False),
                 stuff_with_things: bool = True,
                 instance_scales: Sequence[Tuple[float, float]] = (
                     COCO_INSTANCE_SCALES),
                 min_overlap: float = 0.7,
                 sigma_factor: float = 3.0,
                 num_weighted_kernels: int = 7,
                 stuff_kernel_average: str = 'image',
                 loss_position: ConfigType = dict(
                     type='mmdet.FocalLoss',
                     use_sigmoid=True,
                     alpha=0.25,
                     gamma=2.0,
                     reduction='none',
                     loss_weight=1.0),
                 loss_segment: ConfigType = dict(
                     type='WeightedDiceLoss', loss_weight=3.0),
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(instance_scales) != len(kernel_levels):
            raise ValueError(
                f'{len(kernel_levels)} kernel levels need as many instance '
                f'scale ranges, got {len(instance_scales)}')
        self.num_things_classes = num_things_classes
        self.num_stuff_classes = num_stuff_classes
        self.stuff_with_things = stuff_with_things
        self.num_stuff_channels = num_stuff_classes + int(stuff_with_things)
        self.kernel_levels = tuple(kernel_levels)
        self.encoder_levels = tuple(encoder_levels)
        self.instance_scales = tuple(tuple(s) for s in instance_scales)
        self.min_overlap = min_overlap
        self.sigma_factor = sigma_factor
        self.num_weighted_kernels = num_weighted_kernels
        if stuff_kernel_average not in STUFF_KERNEL_AVERAGES:
            raise ValueError(f'stuff_kernel_average must be one of '
                             f'{STUFF_KERNEL_AVERAGES}, got '
                             f'{stuff_kernel_average!r}')
        self.stuff_kernel_average = stuff_kernel_average

        self.position_head = MODELS.build(
            dict(
                type='PositionHead',
                in_channels=in_channels,
                num_things_classes=num_things_classes,
                num_stuff_channels=self.num_stuff_channels,
                **position_head))
        self.kernel_head = MODELS.build(
            dict(type='KernelHead', in_channels=in_channels, **kernel_head))
        self.semantic_fpn = MODELS.build(
            dict(
                type='SemanticFPNFeature',
                in_channels=in_channels,
                num_levels=len(self.encoder_levels),
                **semantic_fpn))
        self.feature_encoder = MODELS.build(
            dict(
                type='FeatureEncoder',
                in_channels=semantic_fpn.get('channels', 256),
                **feature_encoder))
        kernel_channels = kernel_head.get('channels', 256)
        encoded_channels = feature_encoder.get('channels', 64)
        # 1x1 projections of the selected kernel weights to C_e channels
        self.thing_kernel_projection = nn.Linear(kernel_channels,
                                                 encoded_channels)
        self.stuff_kernel_projection = nn.Linear(kernel_channels,
                                                 encoded_channels)
        self.loss_position = MODELS.build(loss_position)
        self.loss_segment = MODELS.build(loss_segment)
        self.test_cfg = dict(self.DEFAULT_TEST_CFG)
        if test_cfg is not None:
            unknown = set(test_cfg) - set(self.DEFAULT_TEST_CFG)
            if unknown:
                raise ValueError(f'unknown test_cfg keys {sorted(unknown)}; '
                                 f'known: {sorted(self.DEFAULT_TEST_CFG)}')
            self.test_cfg.update(test_cfg)
        if len(self.test_cfg['smooth_kernel_sizes']) != len(kernel_levels):
            raise ValueError('test_cfg.smooth_kernel_sizes needs one size per '
                             'kernel level')

    def init_weights(self) -> None:
        super().init_weights()
        for layer in (self.thing_kernel_projection,
                      self.stuff_kernel_projection):
            normal_init(layer, mean=0, std=0.01, bias=0)

    # ------------------------------------------------------------ forward
    def forward(self, x: Sequence[Tensor]) -> HeadOutputs:
        """Network outputs.

        Args:
            x (sequence of Tensor): neck outputs P2..P7, (N, C, H_i, W_i).

        Returns:
            tuple: things heatmap logits per kernel level (N, T, H_i, W_i),
            stuff map logits (N, S', H_i, W_i), kernel weight maps
            (N, C_k, H_i, W_i), and the encoded feature (N, C_e, H/4, W/4).
        """
        center_logits, stuff_logits, kernel_maps = [], [], []
        for level in self.kernel_levels:  # shared over levels
            centers, stuff = self.position_head(x[level])
            center_logits.append(centers)
            stuff_logits.append(stuff)
            kernel_maps.append(self.kernel_head(x[level]))
        high_res = self.semantic_fpn(
            [x[level] for level in self.encoder_levels])
        encoded = self.feature_encoder(high_res)
        return center_logits, stuff_logits, kernel_maps, encoded

    # ------------------------------------------------------------ targets
    def get_targets(self, data_sample: DetDataSample, input_size: Tuple[int,
                                                                        int],
                    level_sizes: Sequence[Tuple[int, int]],
                    encoded_size: Tuple[int, int]) -> dict:
        """Targets of one image (calls the pure functions).

        As in the official code, crowd regions (thing pixels without an
        instance: mmdet moves crowd instances to ``ignored_instances``) are
        negatives of the things heatmap and belong to the "all things" stuff
        channel; ignored pixels and the padding are 0 in every target.

        Returns:
            dict: ``levels`` (per level: ``heatmap`` (T, H_l, W_l),
            ``object_index``, ``cells``, ``stuff`` (S', H_l, W_l)),
            ``labels`` (K,), ``thing_masks`` (K, H/4, W/4) soft masks and
            ``stuff`` (S', H/4, W/4).
        """
        gt_instances = data_sample.gt_instances
        device = gt_instances.labels.device
        sem_seg = data_sample.gt_sem_seg.sem_seg[0].to(device)
        if tuple(sem_seg.shape) != tuple(input_size):
            raise ValueError(
                f'gt_sem_seg {tuple(sem_seg.shape)} must be padded to the '
                f'batch input shape {tuple(input_size)} (pad_seg=True)')
        labels = gt_instances.labels.long()
        masks = gt_instances.masks
        if hasattr(masks, 'to_tensor'):  # BitmapMasks / PolygonMasks
            if (masks.height, masks.width) != tuple(input_size):
                raise ValueError('gt masks must be padded to the batch '
                                 'input shape (pad_mask=True)')
            masks = masks.to_tensor(torch.bool, device)
        masks = masks.bool().view(-1, *input_size)
        boxes = gt_instances.bboxes
        boxes = boxes.tensor if hasattr(boxes, 'tensor') else boxes
        box_wh = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0)
        box_sizes = (box_wh[:, 0] * box_wh[:, 1]).sqrt()

        stuff = stuff_one_hot(sem_seg, self.num_things_classes,
                              self.num_stuff_classes, encoded_size,
                              self.stuff_with_things)
        if len(masks) > 0:
            thing_masks = F.interpolate(
                masks[None].float(),
                size=encoded_size,
                mode='bilinear',
                align_corners=False)[0]
        else:  # interpolate refuses empty inputs
            thing_masks = masks.new_zeros((0, *encoded_size),
                                          dtype=torch.float32)

        level_targets = thing_level_targets(masks, box_sizes, box_wh, labels,
                                            self.num_things_classes,
                                            input_size, level_sizes,
                                            self.instance_scales,
                                            self.min_overlap,
                                            self.sigma_factor)
        for level_target, level_size in zip(level_targets, level_sizes):
            level_target['stuff'] = resize_stuff_targets(stuff, level_size)
        return dict(
            levels=level_targets,
            labels=labels,
            thing_masks=thing_masks,
            stuff=stuff)

    # --------------------------------------------------------------- loss
    def loss(self, x: Sequence[Tensor],
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses of eq. (9) from neck features and data samples."""
        return self.loss_by_feat(*self(x), batch_data_samples)

    def loss_by_feat(self, center_logits: List[Tensor],
                     stuff_logits: List[Tensor], kernel_maps: List[Tensor],
                     encoded: Tensor,
                     batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Position losses (eq. (2)-(3)) and weighted Dice (eq. (7)-(8)).

        Normalisation as in the official code: things heatmap loss and
        things Dice by the number of (object, level) assignments, stuff
        Dice by the number of (stuff class, level) regions, stuff heatmap
        loss per pixel (eq. (2)) and per image. Every pixel of the padded
        maps counts, ignored ones as negatives (the official code).
        """
        batch_size = encoded.shape[0]
        input_size = tuple(batch_data_samples[0].batch_input_shape)
        level_sizes = [tuple(c.shape[-2:]) for c in center_logits]
        encoded_size = tuple(encoded.shape[-2:])
        targets = [
            self.get_targets(sample, input_size, level_sizes, encoded_size)
            for sample in batch_data_samples
        ]
        num_thing_targets = sum(
            len(level['object_index']) for target in targets
            for level in target['levels'])
        thing_norm = max(num_thing_targets, 1)

        loss_pos_things = encoded.new_zeros(())
        loss_pos_stuff = encoded.new_zeros(())
        for level, (centers,
                    stuff) in enumerate(zip(center_logits, stuff_logits)):
            heatmap = torch.stack(
                [t['levels'][level]['heatmap'] for t in targets])
            loss_pos_things = loss_pos_things + self._focal(
                centers, heatmap).sum()  # eq. (2), things
            stuff_target = torch.stack(
                [t['levels'][level]['stuff'] for t in targets])
            per_cell = self._focal(stuff, stuff_target)
            # eq. (2), stuff: the mean over the W_i H_i cells
            loss_pos_stuff = loss_pos_stuff + per_cell.flatten(2).mean(2).sum()

        loss_seg_things = encoded.new_zeros(())
        loss_seg_stuff = encoded.new_zeros(())
        num_stuff_targets = 0
        stuff_inputs = []
        for image, target in enumerate(targets):
            features = encoded[image].flatten(1)  # (C_e, P)
            thing_logits, thing_weights, thing_index = [], [], []
            stuff_logits_image, stuff_index = [], []
            for level, level_target in enumerate(target['levels']):
                kernel_map = kernel_maps[level][image]
                logits, weights = self._thing_predictions(
                    center_logits[level][image], kernel_map, features,
                    level_target, target)
                thing_logits.append(logits)
                thing_weights.append(weights)
                thing_index.append(level_target['object_index'])
                logits, channels = self._stuff_predictions(
                    kernel_map, features, level_target)
                stuff_logits_image.append(logits)
                stuff_index.append(channels)
            thing_index = torch.cat(thing_index)
            if len(thing_index) > 0:
                loss_seg_things = loss_seg_things + self.loss_segment(
                    torch.cat(thing_logits),
                    target['thing_masks'][thing_index].flatten(1),
                    torch.cat(thing_weights),
                    avg_factor=thing_norm)  # eq. (7)-(8)
            stuff_index = torch.cat(stuff_index)
            num_stuff_targets += len(stuff_index)
            stuff_inputs.append((torch.cat(stuff_logits_image),
                                 target['stuff'][stuff_index].flatten(1)))
        stuff_norm = max(num_stuff_targets, 1)
        for logits, stuff_targets in stuff_inputs:
            if len(logits) > 0:
                loss_seg_stuff = loss_seg_stuff + self.loss_segment(
                    logits, stuff_targets,
                    avg_factor=stuff_norm)  # k = 1 for stuff
        # keep every parameter in the graph (DDP) when a batch has no targets
        zero = sum(k.sum() for k in kernel_maps) * 0 + encoded.sum() * 0
        zero = zero + sum(
            p.sum() for p in self.thing_kernel_projection.parameters()) * 0
        zero = zero + sum(
            p.sum() for p in self.stuff_kernel_projection.parameters()) * 0
        return dict(
            loss_pos_things=loss_pos_things / thing_norm,
            loss_pos_stuff=loss_pos_stuff / batch_size,
            loss_seg_things=loss_seg_things + zero,
            loss_seg_stuff=loss_seg_stuff)

    def _focal(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Element-wise focal loss. (N, C, H, W) -> (N, C, H, W)."""
        num, channels, height, width = logits.shape
        flat_logits = logits.permute(0, 2, 3, 1).reshape(-1, channels)
        flat_targets = targets.permute(0, 2, 3, 1).reshape(-1, channels)
        loss = self.loss_position(
            flat_logits, flat_targets, reduction_override='none')
        return loss.view(num, height, width, channels).permute(0, 3, 1, 2)

    def _thing_predictions(self, center_logits: Tensor, kernel_map: Tensor,
                           features: Tensor, level_target: dict,
                           target: dict) -> Tuple[Tensor, Tensor]:
        """Masks of the top-k kernels inside each object of one level.

        The k cells of the object's region (its 1/4 mask resized to the
        level, > 0.1) with the highest heatmap scores of its class, as the
        official code: cells outside the region score 0, so an object with
        fewer than k cells (or none) on the level gets weight-0 picks. The
        weights are the scores themselves, so the Dice loss reaches the
        heatmap through them too (the official code does not detach them).

        Returns:
            tuple[Tensor, Tensor]: (K_l, k, P) mask logits and (K_l, k)
            weights (the heatmap scores s_k; 0 for picks outside).
        """
        object_index = level_target['object_index']
        num_objects = len(object_index)
        channels, height, width = kernel_map.shape
        k = self.num_weighted_kernels
        if num_objects == 0:
            return (features.new_zeros(
                (0, k, features.shape[1])), features.new_zeros((0, k)))
        labels = target['labels'][object_index]
        regions = F.interpolate(
            target['thing_masks'][object_index][None],
            size=(height, width),
            mode='bilinear',
            align_corners=False)[0].flatten(1) > 0.1
        scores = center_logits[labels].sigmoid().flatten(1)
        scores = torch.where(regions, scores, scores.new_zeros(()))
        if scores.shape[1] < k:  # levels of fewer than k cells: pad
            scores = F.pad(scores, (0, k - scores.shape[1]), value=0.0)
        weights, top_index = scores.topk(k, dim=1)  # s_k of eq. (7)
        top_index = top_index.clamp(max=height * width - 1)
        kernels = kernel_map.flatten(1)[:, top_index].permute(1, 2, 0)
        kernels = self.thing_kernel_projection(kernels)  # (K_l, k, C_e)
        logits = torch.einsum('mkc,cp->mkp', kernels, features)  # eq. (5)
        return logits, weights

    def _stuff_predictions(self, kernel_map: Tensor, features: Tensor,
                           level_target: dict) -> Tuple[Tensor, Tensor]:
        """Masks of the pooled kernel of each stuff region of one level.

        Returns:
            tuple[Tensor, Tensor]: (N_l, P) logits and (N_l,) channels.
        """
        regions = (level_target['stuff'] > 0).flatten(1)  # (S', HW)
        channels = regions.any(dim=1).nonzero(as_tuple=False).view(-1)
        kernels = pool_stuff_kernels(regions[channels], kernel_map,
                                     self.stuff_kernel_average)
        kernels = self.stuff_kernel_projection(kernels)
        return kernels @ features, channels  # eq. (5)

    # ------------------------------------------------------------ predict
    def predict(self,
                x: Sequence[Tensor],
                batch_data_samples: SampleList,
                rescale: bool = True) -> List[dict]:
        """Panoptic, semantic and instance results per image."""
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        return self.predict_by_feat(*self(x), batch_img_metas, rescale=rescale)

    @torch.no_grad()
    def predict_by_feat(self,
                        center_logits: List[Tensor],
                        stuff_logits: List[Tensor],
                        kernel_maps: List[Tensor],
                        encoded: Tensor,
                        batch_img_metas: List[dict],
                        rescale: bool = True) -> List[dict]:
        """Post-processing (Sec. 3.4): candidates, kernel fusion, masks,
        rescoring and the panoptic combination.

        Returns:
            list[dict]: per image ``pan_results`` PixelData (1, H, W),
            ``sem_results`` PixelData (1, H, W) dense labels in [0, T + S) and
            ``ins_results`` InstanceData (masks, labels, scores, bboxes).
        """
        return [
            self._predict_single([c[i] for c in center_logits],
                                 [s[i] for s in stuff_logits],
                                 [k[i] for k in kernel_maps], encoded[i], meta,
                                 rescale)
            for i, meta in enumerate(batch_img_metas)
        ]

    def _predict_single(self, center_logits: List[Tensor],
                        stuff_logits: List[Tensor], kernel_maps: List[Tensor],
                        encoded: Tensor, img_meta: dict,
                        rescale: bool) -> dict:
        cfg = self.test_cfg
        thing_parts, stuff_parts = [], []
        for centers, stuff, kernel_map, smooth in zip(
                center_logits, stuff_logits, kernel_maps,
                cfg['smooth_kernel_sizes']):
            thing_parts.append(
                thing_candidates(centers, kernel_map, cfg['center_top_k'],
                                 cfg['center_score_thr'], smooth))
            stuff_parts.append(
                stuff_candidates(stuff, kernel_map, cfg['stuff_score_thr'],
                                 self.stuff_kernel_average))
        thing_kernels, thing_labels, thing_scores = (
            torch.cat(parts) for parts in zip(*thing_parts))
        stuff_kernels, stuff_channels, stuff_scores = (
            torch.cat(parts) for parts in zip(*stuff_parts))

        features = encoded.flatten(1)  # (C_e, P)
        feat_h, feat_w = encoded.shape[-2:]
        thing_kernels, thing_labels, thing_scores = fuse_thing_kernels(
            self.thing_kernel_projection(thing_kernels), thing_labels,
            thing_scores, cfg['similarity_thr'], cfg['class_aware_fusion'])
        thing_probs = (thing_kernels @ features).sigmoid().view(
            -1, feat_h, feat_w)  # eq. (5)
        thing_scores, _ = maskness_rescore(thing_probs, thing_scores,
                                           cfg['mask_thr'])
        # score threshold, then the top max_things in descending score
        keep = (thing_scores >= cfg['thing_score_thr']).nonzero().view(-1)
        keep = keep[thing_scores[keep].argsort(
            descending=True)[:cfg['max_things']]]
        thing_probs, thing_labels, thing_scores = (thing_probs[keep],
                                                   thing_labels[keep],
                                                   thing_scores[keep])
        stuff_kernels, stuff_channels, stuff_scores = fuse_stuff_kernels(
            self.stuff_kernel_projection(stuff_kernels), stuff_channels,
            stuff_scores)
        stuff_probs = (stuff_kernels @ features).sigmoid().view(
            -1, feat_h, feat_w)

        out_size = img_meta['ori_shape'] if rescale else img_meta['img_shape']
        out_size = tuple(int(v) for v in out_size[:2])
        valid_size = tuple(int(v) for v in img_meta['img_shape'][:2])
        stride = self._encoded_stride(img_meta, encoded)
        # masks at 1/4 -> padded input -> crop img_shape -> out_size, then
        # decided (fused: no full-size probability maps)
        thing_masks = upsample_threshold(thing_probs, valid_size, out_size,
                                         stride, cfg['mask_thr'])
        stuff_labels, best_stuff = self._stuff_label_maps(
            stuff_probs, stuff_channels, valid_size, out_size, stride)
        panoptic = combine_things_and_stuff(
            thing_masks, thing_labels, thing_scores, stuff_labels,
            self.num_things_classes, self.num_stuff_classes,
            cfg['overlap_thr'], cfg['stuff_area_limit'],
            cfg['panoptic_thing_score_thr'])
        # dense semantic labels (for mIoU): the panoptic label, and the best
        # stuff class where the panoptic result is VOID
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

    @staticmethod
    def _encoded_stride(img_meta: dict, encoded: Tensor) -> int:
        """Input pixels per pixel of the encoded feature (4)."""
        batch_h, batch_w = img_meta['batch_input_shape'][:2]
        feat_h, feat_w = encoded.shape[-2:]
        stride = batch_h // feat_h
        if (feat_h * stride, feat_w * stride) != (batch_h, batch_w):
            raise ValueError(
                f'encoded feature {feat_h}x{feat_w} is not the batch input '
                f'{batch_h}x{batch_w} divided by an integer stride')
        return stride

    def _stuff_label_maps(self, stuff_probs: Tensor, stuff_channels: Tensor,
                          valid_size: Tuple[int, int], out_size: Tuple[int,
                                                                       int],
                          stride: int) -> Tuple[Tensor, Tensor]:
        """Per-pixel stuff labels from the fused stuff masks.

        Args:
            stuff_probs (Tensor): (U, h, w) probabilities at ``stride``.
            stuff_channels (Tensor): (U,) stuff-map channels (S = things).
            valid_size (tuple[int, int]): image size inside the padding.
            out_size (tuple[int, int]): output size.
            stride (int): input pixels per pixel of ``stuff_probs``.

        Returns:
            tuple[Tensor, Tensor]: (H, W) long argmax label in [T, T + S),
            -1 where the "things" channel wins or no stuff kernel exists;
            and (H, W) long argmax over the real stuff classes only (T when
            there is none), for the dense semantic output. Both are argmaxes
            of the bilinearly upsampled probabilities.
        """
        size = tuple(out_size[:2])
        device = stuff_probs.device
        # channels are sorted (fuse_stuff_kernels), so "things" (channel S)
        # can only be the last one
        has_things = len(stuff_channels) > 0 and bool(
            stuff_channels[-1] == self.num_stuff_classes)
        num_real = len(stuff_channels) - int(has_things)
        if num_real == 0:
            return (torch.full(size, -1, dtype=torch.long, device=device),
                    torch.full(
                        size,
                        self.num_things_classes,
                        dtype=torch.long,
                        device=device))
        best = stuff_channels[upsample_argmax(
            stuff_probs[:num_real], valid_size, size,
            stride)] + self.num_things_classes
        if not has_things:
            return best, best
        # the things channel wins only where it is strictly above every real
        # stuff channel (ties go to the first channel)
        winner = upsample_argmax(stuff_probs, valid_size, size, stride)
        return torch.where(winner == num_real, best.new_tensor(-1), best), best
