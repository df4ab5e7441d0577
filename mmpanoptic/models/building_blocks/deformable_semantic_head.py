"""UPSNet's deformable semantic head (UPSNet paper, section 3.1 and Fig. 2),
also the semantic submodule of the Unifying model (with GN after each conv).

One subnet of (deformable) 3x3 convs is shared by P2..P5; its outputs are
upsampled to 1/4 and concatenated, and a 1x1 conv classifies every pixel over
all thing and stuff classes (mmdet order: things [0, T), stuff [T, T + S)).
Losses: pixel-wise cross-entropy (ignore 255) on the logits upsampled x4, and
the RoI loss: cross-entropy on 28x28 crops of the logits inside the ground
truth boxes, which weighs the pixels of instances more.
"""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmcv.ops import roi_align
from mmdet.models.seg_heads.base_semantic_head import BaseSemanticHead
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi, get_box_tensor
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor

from mmpanoptic.ops import GridSampleDeformConv2dPack  # noqa: F401 (conv
# type 'DCNGridSample')
from mmpanoptic.registry import MODELS


def crop_semantic_targets(sem_seg: Tensor, rois: Tensor,
                          size: int = 28) -> Tensor:
    """Crop the semantic ground truth inside each RoI to ``size x size``
    (nearest sampling at the bin centres), the target of the RoI loss.

    Args:
        sem_seg (Tensor): (B, H, W) labels, 255 = ignore.
        rois (Tensor): (N, 5) ``(batch_index, x1, y1, x2, y2)`` in pixels of
            ``sem_seg``.
        size (int): Side of the crops.

    Returns:
        Tensor: (N, size, size) long labels; bins outside the image are 255.
    """
    height, width = sem_seg.shape[-2:]
    steps = (torch.arange(size, device=rois.device, dtype=torch.float32) +
             0.5) / size  # bin centres in [0, 1]
    x1, y1, x2, y2 = (rois[:, i:i + 1].float() for i in range(1, 5))
    xs = torch.floor(x1 + (x2 - x1) * steps).long()  # (N, size)
    ys = torch.floor(y1 + (y2 - y1) * steps).long()
    inside = ((ys >= 0) & (ys < height))[:, :, None] & \
        ((xs >= 0) & (xs < width))[:, None, :]
    batch = rois[:, 0].long()[:, None, None]
    crops = sem_seg[batch, ys.clamp(0, height - 1)[:, :, None],
                    xs.clamp(0, width - 1)[:, None, :]].long()
    return torch.where(inside, crops, crops.new_full((), 255))


def resize_semantic_logits(seg_preds: Tensor, batch_img_metas: List[dict],
                           rescale: bool = False) -> List[Tensor]:
    """Per image logits (C, H, W) from a batch's (B, C, h, w): upsampled to
    the padded batch input, and, if ``rescale``, cropped to the image and
    resized to its original size (mmdet's ``BaseSemanticHead.predict``).

    Args:
        seg_preds (Tensor): (B, C, h, w) logits.
        batch_img_metas (list[dict]): ``batch_input_shape``, ``img_shape``,
            ``ori_shape``.
        rescale (bool): Results at the original image size.

    Returns:
        list[Tensor]: per image (C, H, W).
    """
    seg_preds = F.interpolate(
        seg_preds,
        size=batch_img_metas[0]['batch_input_shape'],
        mode='bilinear',
        align_corners=False)
    results = []
    for i, meta in enumerate(batch_img_metas):
        seg_pred = seg_preds[i]
        if rescale:
            h, w = meta['img_shape'][:2]
            seg_pred = seg_pred[:, :h, :w]
            if tuple(meta['ori_shape'][:2]) != (h, w):  # skip a no-op resize
                seg_pred = F.interpolate(
                    seg_pred[None],
                    size=meta['ori_shape'][:2],
                    mode='bilinear',
                    align_corners=False)[0]
        results.append(seg_pred)
    return results


@MODELS.register_module()
class UPSNetSemanticHead(BaseSemanticHead):
    """Shared (deformable) conv subnet on P2..P5, concatenation at 1/4, 1x1
    classifier over thing + stuff classes.

    Defaults follow the official code for COCO: 3 deformable conv v1 layers
    (256 -> 256 -> 128 -> 128), ReLU, no normalisation. Cityscapes uses
    ``num_convs=2`` (256 -> 128 -> 128). The Unifying paper adds GN after
    each conv: ``norm_cfg=dict(type='GN', num_groups=32)``.

    Args:
        num_things_classes (int): Number of thing classes T.
        num_stuff_classes (int): Number of stuff classes S.
        in_channels (int): Channels of the FPN levels.
        feat_channels (int): Channels of all but the last two subnet layers.
        out_channels (int): Channels of the last two subnet layers (each
            level's output); the classifier sees ``num_levels *
            out_channels`` channels.
        num_convs (int): Layers of the shared subnet (>= 1). With one layer
            it maps ``in_channels -> out_channels``.
        num_levels (int): How many FPN levels from P2 up are used (4:
            P2..P5).
        deformable (bool): Deformable conv v1 (mmcv's ``DeformConv2dPack``
            parameters, 3x3 offsets zero-initialised; mmcv's kernel on CUDA,
            :func:`deform_conv2d_grid_sample` on CPU) if True, plain 3x3
            convs if False.
        deform_groups (int): Offset groups of the deformable convs.
        norm_cfg (dict, optional): Normalisation after each conv.
        act_cfg (dict): Activation after each conv.
        roi_size (int): Side of the RoI loss crops.
        loss_seg (dict): Whole-image loss (upsampled to input size).
        loss_roi (dict, optional): RoI loss on ground-truth boxes; its weight
            is the semantic weight / 5 in the paper. None disables it.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 num_things_classes: int = 80,
                 num_stuff_classes: int = 53,
                 in_channels: int = 256,
                 feat_channels: int = 256,
                 out_channels: int = 128,
                 num_convs: int = 3,
                 num_levels: int = 4,
                 deformable: bool = True,
                 deform_groups: int = 1,
                 norm_cfg: OptConfigType = None,
                 act_cfg: ConfigType = dict(type='ReLU'),
                 roi_size: int = 28,
                 loss_seg: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=False,
                     ignore_index=255,
                     avg_non_ignore=True,
                     loss_weight=0.2),
                 loss_roi: OptConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=False,
                     ignore_index=255,
                     avg_non_ignore=True,
                     loss_weight=0.04),
                 init_cfg: OptMultiConfig = None) -> None:
        if num_convs < 1:
            raise ValueError(f'num_convs must be >= 1, got {num_convs}')
        if num_levels < 1:
            raise ValueError(f'num_levels must be >= 1, got {num_levels}')
        super().__init__(
            num_classes=num_things_classes + num_stuff_classes,
            seg_rescale_factor=1 / 4.,
            loss_seg=loss_seg,
            init_cfg=init_cfg)
        self.num_things_classes = num_things_classes
        self.num_stuff_classes = num_stuff_classes
        self.num_levels = num_levels
        self.deformable = deformable
        self.roi_size = roi_size
        self.loss_roi = MODELS.build(loss_roi) if loss_roi else None

        # channels: in -> feat (first num_convs - 2) -> out -> out
        channels = [in_channels] + [feat_channels] * max(num_convs - 2, 0) \
            + [out_channels] * min(num_convs, 2)
        conv_cfg = dict(type='DCNGridSample', deform_groups=deform_groups) \
            if deformable else None
        self.subnet = nn.Sequential(*[
            ConvModule(
                channels[i],
                channels[i + 1],
                kernel_size=3,
                padding=1,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg,
                # mmcv's DeformConv2d has no bias
                bias=False if deformable else 'auto')
            for i in range(num_convs)
        ])
        self.conv_logits = nn.Conv2d(num_levels * out_channels,
                                     self.num_classes, 1)

    def init_weights(self) -> None:
        super().init_weights()
        nn.init.normal_(self.conv_logits.weight, 0, 0.01)
        nn.init.constant_(self.conv_logits.bias, 0)
        if self.deformable:
            for layer in self.subnet:
                layer.conv.init_offset()  # offsets start at zero

    def forward(self, x: Tuple[Tensor],
                with_feats: bool = False) -> Dict[str, Tensor]:
        """
        Args:
            x (tuple[Tensor]): FPN levels P2, P3, ... each (B, C_in, H_l, W_l).
            with_feats (bool): Also return the concatenated features.

        Returns:
            dict: ``seg_preds`` (B, T + S, H_2, W_2) logits at P2's (1/4)
            size and, with ``with_feats``, ``seg_feats`` (B, num_levels *
            C_out, H_2, W_2), the upsampled subnet outputs that the logits
            classify.

        The logits are ``conv_logits(cat_l(up(f_l)))``, computed as
        ``b + sum_l up(W_l f_l)``: bilinear upsampling acts on each channel
        and the 1x1 conv on each pixel, both linearly, so they commute.
        Each level is classified at its own size and only the
        ``T + S``-channel logits are upsampled; the ``num_levels * C_out``
        channel concatenation at 1/4 is never formed (at 800x1216 on 2
        CPU threads: 0.65 -> 0.40 s for 133 classes).
        """
        if len(x) < self.num_levels:
            raise ValueError(f'UPSNetSemanticHead needs {self.num_levels} '
                             f'feature levels, got {len(x)}')
        size = x[0].shape[-2:]
        # the same subnet on every level
        level_feats = [
            self._subnet(x[level]) for level in range(self.num_levels)
        ]
        level_weights = self.conv_logits.weight.split(
            [feat.shape[1] for feat in level_feats], dim=1)
        seg_preds = None
        for level, (feat, weight) in enumerate(zip(level_feats,
                                                   level_weights)):
            logits = F.conv2d(feat, weight)  # W_l f_l
            if level > 0:
                logits = self._upsample(logits, size)
            seg_preds = logits if seg_preds is None else seg_preds + logits
        seg_preds = seg_preds + self.conv_logits.bias.view(1, -1, 1, 1)
        if not with_feats:
            return dict(seg_preds=seg_preds)
        seg_feats = torch.cat(
            [level_feats[0]] +
            [self._upsample(feat, size) for feat in level_feats[1:]], dim=1)
        return dict(seg_preds=seg_preds, seg_feats=seg_feats)

    @staticmethod
    def _upsample(feat: Tensor, size: torch.Size) -> Tensor:
        return F.interpolate(
            feat, size=size, mode='bilinear', align_corners=False)

    def _subnet(self, feat: Tensor) -> Tensor:
        height, width = feat.shape[-2:]
        if self.deformable and min(height, width) < 3:
            # mmcv's deformable conv rejects maps smaller than its kernel
            # (tiny inputs only): zero-pad to 3 px and crop back
            feat = F.pad(feat, (0, max(3 - width, 0), 0, max(3 - height, 0)))
            return self.subnet(feat)[..., :height, :width]
        return self.subnet(feat)

    def loss(self, x: Tuple[Tensor],
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Whole-image and RoI losses; see :meth:`loss_by_feat`."""
        return self.loss_by_feat(self(x)['seg_preds'], batch_data_samples)

    def loss_by_feat(self, seg_preds: Tensor,
                     batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """
        Args:
            seg_preds (Tensor): (B, T + S, H/4, W/4) logits.
            batch_data_samples (list[DetDataSample]): with ``gt_sem_seg``
                (things [0, T), stuff [T, T + S), 255 ignore, padded to the
                batch input size) and ``gt_instances.bboxes``.

        Returns:
            dict: ``loss_seg`` and, if enabled, ``loss_roi``.
        """
        gt_sem_seg = torch.stack([
            sample.gt_sem_seg.sem_seg[0] for sample in batch_data_samples
        ]).long()  # (B, H, W)
        logits = F.interpolate(
            seg_preds,
            size=gt_sem_seg.shape[-2:],
            mode='bilinear',
            align_corners=False)
        losses = dict(loss_seg=self.loss_seg(logits, gt_sem_seg))
        if self.loss_roi is None:
            return losses

        rois = bbox2roi([
            get_box_tensor(sample.gt_instances.bboxes)
            for sample in batch_data_samples
        ])  # (N, 5) at input scale
        if rois.shape[0] == 0:
            losses['loss_roi'] = seg_preds.sum() * 0
            return losses
        # Cropping the logits equals cropping the concatenated features and
        # applying the (linear) 1x1 classifier, with T + S instead of
        # 4 * C_out channels.
        spatial_scale = seg_preds.shape[-1] / gt_sem_seg.shape[-1]
        roi_logits = roi_align(seg_preds, rois, (self.roi_size,) * 2,
                               spatial_scale, 0, 'avg', True)
        roi_targets = crop_semantic_targets(gt_sem_seg, rois, self.roi_size)
        losses['loss_roi'] = self.loss_roi(roi_logits, roi_targets)
        return losses

    def predict(self,
                x: Tuple[Tensor],
                batch_img_metas: List[dict],
                rescale: bool = False,
                seg_preds: Optional[Tensor] = None) -> List[Tensor]:
        """Logits (T + S, H, W) per image, at the original size if
        ``rescale``; ``seg_preds`` (B, T + S, H/4, W/4) skips the forward."""
        if seg_preds is None:
            seg_preds = self(x)['seg_preds']
        return resize_semantic_logits(seg_preds, batch_img_metas, rescale)
