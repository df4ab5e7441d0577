"""AUNet's background (BG) branch: light semantic heads on the attended
multi-scale features (sec. 3.2-3.3, Fig. 2, 3 and 5)."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.models.seg_heads.base_semantic_head import BaseSemanticHead
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptMultiConfig
from torch import Tensor

from mmpanoptic.registry import MODELS

from ..building_blocks.deformable_semantic_head import resize_semantic_logits


def things_to_one_class(gt_sem_seg: Tensor, num_things_classes: int,
                        num_stuff_classes: int) -> Tensor:
    """Labels of the "equ" BG branch: stuff ``[T, T+S) -> [0, S)``, every
    thing ``[0, T) -> S``, anything else (255 ignore) unchanged."""
    is_thing = gt_sem_seg < num_things_classes
    is_stuff = (gt_sem_seg >= num_things_classes) & (
        gt_sem_seg < num_things_classes + num_stuff_classes)
    labels = torch.where(is_stuff, gt_sem_seg - num_things_classes,
                         gt_sem_seg)
    return torch.where(is_thing, torch.full_like(labels, num_stuff_classes),
                       labels)


MAM_POSITIONS = ('merged', 'per_level')


@MODELS.register_module()
class AUNetSemanticHead(BaseSemanticHead):
    """BG branch of AUNet with PAM on every FPN level and MAM.

    Per level i: ``S_i = conv3x3(x_i)``, PAM with the RPN feature P_i
    (eq. (1)-(4)), ``S_pam,i = conv3x3(S''_i)`` (Fig. 3); the levels are
    upsampled to the finest one and summed (Fig. 2), MAM attends the merged
    ``S_pam`` with the RoIUpsample'd FG mask features merged the same way
    (``S_pam (x) P_roi``, sec. 3.2; Fig. 5), and a 1x1 conv gives the
    logits. With ``mam_position='per_level'`` MAM runs on every level
    before the merge instead.

    Args:
        num_things_classes (int): T.
        num_stuff_classes (int): S.
        things_as_one_class (bool): "equ" (COCO setting, sec. 3.4): all
            things are one BG class, S + 1 logits; else T + S logits
            (Cityscapes: all 19 classes).
        in_channels (int): FPN channels.
        feat_channels (int): C_s.
        num_levels (int): FPN levels used (P2-P5).
        use_pam (bool): Proposal Attention Module on.
        use_mam (bool): Mask Attention Module on.
        mam_position (str): 'merged' (one MAM on the merged W' x H' map:
            sec. 3.2 writes ``S_pam (x) P_roi`` with no scale index, while
            PAM is ``S_i (x) P_i`` "in each scale") or 'per_level' (one
            MAM per FPN level on the RoIs assigned to it).
        use_reweight (bool): background reweight in PAM and MAM ("rewt").
        rpn_channels (int): C_r, RPN conv channels.
        mask_channels (int): C_m, mask branch feature channels.
        attention_hidden_channels (int, optional): C'_r / C'_m (not given in
            the paper; ``C_r // 4`` by default).
        norm_cfg (dict): GN in all branch heads (sec. 3.4).
        loss_seg (dict): semantic loss (CE, ignore 255, averaged over the
            non-ignored pixels so that VOID and padding do not dilute
            lambda_4).
    """

    def __init__(self,
                 num_things_classes: int = 80,
                 num_stuff_classes: int = 53,
                 things_as_one_class: bool = True,
                 in_channels: int = 256,
                 feat_channels: int = 128,
                 num_levels: int = 4,
                 use_pam: bool = True,
                 use_mam: bool = True,
                 mam_position: str = 'merged',
                 use_reweight: bool = True,
                 rpn_channels: int = 256,
                 mask_channels: int = 256,
                 attention_hidden_channels: Optional[int] = None,
                 norm_cfg: ConfigType = dict(
                     type='GN', num_groups=32, requires_grad=True),
                 loss_seg: ConfigType = dict(
                     type='CrossEntropyLoss',
                     ignore_index=255,
                     avg_non_ignore=True,
                     loss_weight=1.0),
                 init_cfg: OptMultiConfig = None) -> None:
        if mam_position not in MAM_POSITIONS:
            raise ValueError(f'mam_position must be one of {MAM_POSITIONS}, '
                             f'got {mam_position!r}')
        num_classes = num_stuff_classes + 1 if things_as_one_class else \
            num_things_classes + num_stuff_classes
        super().__init__(
            num_classes=num_classes,
            seg_rescale_factor=1.0,
            loss_seg=loss_seg,
            init_cfg=init_cfg)
        self.num_things_classes = num_things_classes
        self.num_stuff_classes = num_stuff_classes
        self.things_as_one_class = things_as_one_class
        self.num_levels = num_levels
        self.use_pam = use_pam
        self.use_mam = use_mam
        self.mam_position = mam_position

        def conv3x3(in_ch):
            return ConvModule(
                in_ch, feat_channels, 3, padding=1, norm_cfg=norm_cfg)

        self.lateral_convs = nn.ModuleList(
            conv3x3(in_channels) for _ in range(num_levels))
        self.attended_convs = nn.ModuleList(
            conv3x3(feat_channels) for _ in range(num_levels))
        attention = dict(
            feat_channels=feat_channels,
            hidden_channels=attention_hidden_channels,
            use_reweight=use_reweight,
            norm_cfg=norm_cfg)
        self.proposal_attentions = nn.ModuleList(
            MODELS.build(
                dict(
                    type='ProposalAttention',
                    guide_channels=rpn_channels,
                    **attention)) for _ in range(num_levels)) if use_pam \
            else None
        self.mask_attentions = nn.ModuleList(
            MODELS.build(
                dict(
                    type='MaskAttention',
                    guide_channels=mask_channels,
                    **attention))
            for _ in range(self.num_mask_maps)) if use_mam else None
        self.conv_logits = nn.Conv2d(feat_channels, self.num_classes, 1)

    def init_weights(self) -> None:
        super().init_weights()
        nn.init.normal_(self.conv_logits.weight, 0, 0.01)
        nn.init.zeros_(self.conv_logits.bias)

    @property
    def num_mask_maps(self) -> int:
        """Guidance maps MAM takes: 1 (merged) or one per level."""
        return 1 if self.mam_position == 'merged' else self.num_levels

    def forward(self,
                x: Sequence[Tensor],
                rpn_feats: Optional[Sequence[Tensor]] = None,
                mask_maps: Optional[Sequence[Tensor]] = None
                ) -> Dict[str, Tensor]:
        """
        Args:
            x (Sequence[Tensor]): FPN levels, each (B, C_in, H_l, W_l).
            rpn_feats (Sequence[Tensor], optional): P_l (B, C_r, H_l, W_l),
                needed with PAM.
            mask_maps (Sequence[Tensor], optional): RoIUpsample'd mask
                features, needed with MAM: one (B, C_m, H_0, W_0) map
                (``mam_position='merged'``) or one (B, C_m, H_l, W_l) per
                level.

        Returns:
            dict: ``seg_preds`` (B, num_classes, H_0, W_0) logits at the
            finest level's stride and ``seg_feats`` (B, C_s, H_0, W_0).
        """
        if len(x) < self.num_levels:
            raise ValueError(f'AUNetSemanticHead needs {self.num_levels} '
                             f'feature levels, got {len(x)}')
        if self.use_pam and (rpn_feats is None
                             or len(rpn_feats) < self.num_levels):
            raise ValueError('PAM is on: pass the RPN features of every '
                             'level (rpn_feats)')
        if self.use_mam and (mask_maps is None
                             or len(mask_maps) != self.num_mask_maps):
            raise ValueError(
                f'MAM is on ({self.mam_position}): pass '
                f'{self.num_mask_maps} RoIUpsample\'d mask feature map(s) '
                f'(mask_maps), got '
                f'{None if mask_maps is None else len(mask_maps)}')
        per_level_mam = self.use_mam and self.mam_position == 'per_level'
        target_size = x[0].shape[-2:]
        seg_feats = 0
        for level in range(self.num_levels):
            feat = self.lateral_convs[level](x[level])  # S_i
            if self.use_pam:
                feat = self.proposal_attentions[level](feat,
                                                       rpn_feats[level])
            feat = self.attended_convs[level](feat)  # S_pam
            if per_level_mam:
                feat = self.mask_attentions[level](feat, mask_maps[level])
            if feat.shape[-2:] != target_size:
                feat = F.interpolate(
                    feat,
                    size=target_size,
                    mode='bilinear',
                    align_corners=False)
            seg_feats = seg_feats + feat
        if self.use_mam and not per_level_mam:
            seg_feats = self.mask_attentions[0](seg_feats, mask_maps[0])
        return dict(
            seg_preds=self.conv_logits(seg_feats), seg_feats=seg_feats)

    def semantic_targets(self, batch_data_samples: SampleList) -> Tensor:
        """(B, H, W) long BG-branch labels from ``gt_sem_seg``."""
        gt = torch.stack([
            sample.gt_sem_seg.sem_seg[0] for sample in batch_data_samples
        ]).long()
        if self.things_as_one_class:
            gt = things_to_one_class(gt, self.num_things_classes,
                                     self.num_stuff_classes)
        return gt

    def loss_by_feat(self, seg_preds: Tensor,
                     batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """CE between logits upsampled to the padded input size and the
        labels (255 ignored; ``loss_seg`` averages over the rest with
        ``avg_non_ignore=True``)."""
        targets = self.semantic_targets(batch_data_samples)
        seg_preds = F.interpolate(
            seg_preds,
            size=targets.shape[-2:],
            mode='bilinear',
            align_corners=False)
        loss = self.loss_seg(
            seg_preds.permute(0, 2, 3, 1).reshape(-1, self.num_classes),
            targets.reshape(-1))
        return dict(loss_seg=loss)

    def loss(self,
             x: Sequence[Tensor],
             batch_data_samples: SampleList,
             rpn_feats: Optional[Sequence[Tensor]] = None,
             mask_maps: Optional[Sequence[Tensor]] = None
             ) -> Dict[str, Tensor]:
        seg_preds = self(x, rpn_feats, mask_maps)['seg_preds']
        return self.loss_by_feat(seg_preds, batch_data_samples)

    def predict(self,
                x: Sequence[Tensor],
                batch_img_metas: List[dict],
                rescale: bool = False,
                rpn_feats: Optional[Sequence[Tensor]] = None,
                mask_maps: Optional[Sequence[Tensor]] = None
                ) -> List[Tensor]:
        """Per image (num_classes, H, W) logits, at the original size when
        ``rescale`` (mmdet's BaseSemanticHead.predict resizing)."""
        seg_preds = self(x, rpn_feats, mask_maps)['seg_preds']
        return resize_semantic_logits(seg_preds, batch_img_metas, rescale)

    def extra_repr(self) -> str:
        return (f'things_as_one_class={self.things_as_one_class}, '
                f'use_pam={self.use_pam}, use_mam={self.use_mam}, '
                f'mam_position={self.mam_position}')
