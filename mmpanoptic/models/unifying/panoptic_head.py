"""Panoptic inference of the Unifying model (Li, Qi, Torr): the argmax of
the panoptic logits ``P`` over their D + N_st channels, with no heuristics
(Sec. 3.4), and, for the ablation models C1 and D1 of Table 1, the heuristic
merger of Kirillov et al. (mmdet's ``HeuristicFusionHead``)."""
from typing import Tuple

import torch
import torch.nn.functional as F
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.models.seg_heads.panoptic_fusion_heads import (
    BasePanopticFusionHead, HeuristicFusionHead)
from mmdet.utils import OptConfigType, OptMultiConfig
from mmengine.structures import InstanceData, PixelData
from torch import Tensor

from mmpanoptic.ops.resample import upsample_argmax
from mmpanoptic.registry import MODELS

from ..building_blocks.panoptic_composition import trim_small_stuff
from .full_resolution import full_resolution_argmax

INFERENCE_MODES = ('argmax', 'heuristic')


def panoptic_from_channels(channel_map: Tensor,
                           det_labels: Tensor,
                           num_things_classes: int,
                           num_stuff_classes: int,
                           stuff_area_limit: int = 0) -> Tensor:
    """Turn a per-pixel channel index into mmdet's panoptic encoding.

    Channel k < D is detection k (label ``det_labels[k]``); channel D + j is
    stuff class N_th + j. Every detection present in the map becomes one
    thing segment ``label + id * INSTANCE_OFFSET`` with ids 1, 2, ... in
    channel order; stuff pixels get their label (id 0); stuff segments
    smaller than ``stuff_area_limit`` pixels (appendix C) and pixels of
    index -1 become VOID (= N_th + N_st).

    Args:
        channel_map (Tensor): (H, W) long, values in [-1, D + N_st).
        det_labels (Tensor): (D,) thing labels of the detections.
        num_things_classes (int), num_stuff_classes (int): N_th, N_st.
        stuff_area_limit (int): minimum stuff area; 0 keeps all.

    Returns:
        Tensor: (H, W) long panoptic map.
    """
    num_dets = det_labels.shape[0]
    num_channels = num_dets + num_stuff_classes
    void = num_things_classes + num_stuff_classes
    if channel_map.numel() and channel_map.max() >= num_channels:
        raise ValueError(f'channel_map has index {int(channel_map.max())} '
                         f'but only {num_channels} channels')
    areas = torch.bincount(
        channel_map[channel_map >= 0].flatten(),
        minlength=num_channels)  # (D + N_st,)
    is_present = areas > 0
    instance_ids = torch.cumsum(is_present[:num_dets].long(), dim=0)
    thing_values = det_labels.long() + instance_ids * INSTANCE_OFFSET
    stuff_values = torch.arange(
        num_things_classes,
        num_things_classes + num_stuff_classes,
        device=channel_map.device)
    # lookup table indexed by channel + 1 (index 0 <- channel -1 = VOID)
    table = torch.cat([
        channel_map.new_tensor([void]),
        thing_values.to(channel_map.dtype),
        stuff_values.to(channel_map.dtype)
    ])
    return trim_small_stuff(table[channel_map + 1], num_things_classes,
                            num_stuff_classes, stuff_area_limit)


@MODELS.register_module()
class UnifyingPanopticHead(BasePanopticFusionHead):
    """Parameter-free panoptic output of the Unifying model.

    ``test_cfg`` (the model's ``test_cfg.panoptic``):

    - ``inference``: 'argmax' (the paper's model: argmax of ``P``) or
      'heuristic' (Table 1, C1 and D1: mmdet's heuristic merger of the
      instance masks and the semantic segmentation).
    - ``score_thr`` (required): cut-off of the detections fed to the
      panoptic submodule; the paper's are 0.5 on Cityscapes and 0.75 on
      COCO (appendix B), so there is no default.
    - ``stuff_area_limit`` (required): appendix C trimming of small stuff
      segments, the paper's evaluation default ("unless specified
      otherwise") at a value it does not give (UPSNet's: 4096 px COCO,
      2048 px Cityscapes); 0 turns it off.
    - ``full_resolution_things``: evaluate the potential at input
      resolution (:func:`full_resolution_argmax`) instead of upsampling
      ``P`` from 1/4: sharper thing boundaries, but every channel is
      recomputed at input resolution (an option for small inputs).
    - ``mask_overlap``: the heuristic's overlap threshold.

    Args:
        num_things_classes (int): N_th.
        num_stuff_classes (int): N_st.
        test_cfg (dict, optional): see above.
        init_cfg (dict, optional): unused (no parameters).
    """

    def __init__(self,
                 num_things_classes: int = 80,
                 num_stuff_classes: int = 53,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            num_things_classes=num_things_classes,
            num_stuff_classes=num_stuff_classes,
            test_cfg=test_cfg,
            loss_panoptic=None,
            init_cfg=init_cfg)
        cfg = dict(test_cfg or {})
        missing = [
            key for key in ('score_thr', 'stuff_area_limit') if key not in cfg
        ]
        if missing:
            raise ValueError(
                f'test_cfg.panoptic lacks {missing}: the detection cut-off '
                'is dataset-dependent (the paper: 0.75 COCO, 0.5 '
                'Cityscapes) and small stuff is trimmed by default '
                '(appendix C; e.g. 4096 px COCO, 2048 px Cityscapes, 0 '
                'for no trimming)')
        self.inference = cfg.get('inference', 'argmax')
        if self.inference not in INFERENCE_MODES:
            raise ValueError(f'test_cfg.panoptic.inference must be one of '
                             f'{INFERENCE_MODES}, got {self.inference!r}')
        self.score_thr = cfg['score_thr']
        self.stuff_area_limit = cfg['stuff_area_limit']
        self.full_resolution_things = cfg.get('full_resolution_things', False)
        self.heuristic_fusion = None
        if self.inference == 'heuristic':
            self.heuristic_fusion = HeuristicFusionHead(
                num_things_classes=num_things_classes,
                num_stuff_classes=num_stuff_classes,
                test_cfg=test_cfg)

    def loss(self, **kwargs) -> dict:
        """Parameter-free: the panoptic matching loss trains the modules that
        make ``P`` (:class:`PanopticMatchingLoss`)."""
        return dict()

    def predict(self, **kwargs):
        """One image at a time: :meth:`argmax_panoptic` or
        :meth:`heuristic_panoptic`, as ``inference`` says."""
        if self.inference == 'heuristic':
            return self.heuristic_panoptic(**kwargs)
        return self.argmax_panoptic(**kwargs)

    def argmax_panoptic(self, panoptic_logits: Tensor, potential: Tensor,
                        semantic_logits: Tensor, detections: InstanceData,
                        img_meta: dict, out_size: Tuple[int, int], stride: int,
                        variant: str) -> PixelData:
        """Heuristic-free panoptic output: the argmax of ``P`` at full
        resolution, small stuff segments VOID.

        Args:
            panoptic_logits (Tensor): (D + N_st, h, w) ``P`` at ``stride``.
            potential (Tensor): (D + N_st, h, w) ``Psi``.
            semantic_logits (Tensor): (N_th + N_st, h, w).
            detections (InstanceData): the D detections (``bboxes`` in input
                pixels, ``scores``, ``labels``, optional ``mask_probs``).
            img_meta (dict): with ``img_shape``.
            out_size (tuple[int, int]): output size.
            stride (int): input pixels per pixel of the maps.
            variant (str): the potential's variant.

        Returns:
            PixelData: ``sem_seg`` (1, H, W) int panoptic map.
        """
        if self.full_resolution_things:
            channel_map = full_resolution_argmax(
                panoptic_logits, potential, semantic_logits, detections.bboxes,
                detections.scores, detections.labels,
                detections.get('mask_probs', None), variant,
                img_meta['img_shape'][:2], out_size, stride)
        else:
            channel_map = upsample_argmax(panoptic_logits,
                                          img_meta['img_shape'], out_size,
                                          stride)
        panoptic = panoptic_from_channels(channel_map, detections.labels,
                                          self.num_things_classes,
                                          self.num_stuff_classes,
                                          self.stuff_area_limit)
        return PixelData(sem_seg=panoptic[None].int())

    def heuristic_panoptic(self, instances: InstanceData,
                           semantic_logits: Tensor, img_meta: dict,
                           out_size: Tuple[int,
                                           int], stride: int) -> PixelData:
        """mmdet's heuristic merger (Kirillov et al.) of the instance masks
        (``instances.masks`` at ``out_size``) and the semantic logits, for
        the ablation models C1 and D1."""
        num_things_classes = self.num_things_classes
        # HeuristicFusionHead wants stuff classes first, things merged last
        merged = torch.cat([
            semantic_logits[num_things_classes:],
            semantic_logits[:num_things_classes].max(0, keepdim=True)[0]
        ])
        img_h, img_w = img_meta['img_shape'][:2]
        merged = F.interpolate(
            merged[None],
            scale_factor=stride,
            mode='bilinear',
            align_corners=False)[:, :, :img_h, :img_w]
        merged = F.interpolate(
            merged, size=out_size, mode='bilinear', align_corners=False)[0]
        return self.heuristic_fusion.predict([instances], [merged])[0]
