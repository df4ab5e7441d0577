"""AUNet inference fusion (sec. 3.4): thing masks laid by score with
category relations (Kirillov et al.'s procedure), then stuff from the BG
branch; the BG branch's semantic segmentation in the dataset's classes.

Pure functions (:func:`resolve_instance_overlaps`,
:func:`stuff_from_semantic`, :func:`aunet_panoptic_fusion`,
:func:`semantic_labels`) and a thin registered head that calls them.
"""
from typing import List, Optional, Sequence, Tuple

import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.models.seg_heads.panoptic_fusion_heads import BasePanopticFusionHead
from mmdet.utils import OptConfigType, OptMultiConfig
from mmengine.structures import InstanceData, PixelData
from torch import Tensor

from mmpanoptic.registry import MODELS

from ..building_blocks.panoptic_composition import (draw_things,
                                                    lay_things_by_score,
                                                    trim_small_stuff)


def relation_matrix(category_relations: Sequence[Sequence[int]],
                    num_things_classes: int,
                    device: Optional[torch.device] = None) -> Tensor:
    """(T, T) bool, ``[a, b]`` True when an instance of class a may never be
    covered by one of class b (e.g. ``(tie, person)``)."""
    relations = torch.zeros(
        num_things_classes, num_things_classes, dtype=torch.bool,
        device=device)
    for pair in category_relations:
        if len(pair) != 2:
            raise ValueError('category_relations must hold (front_class, '
                             f'covering_class) pairs, got {pair!r}')
        front, back = (int(v) for v in pair)
        if not (0 <= front < num_things_classes
                and 0 <= back < num_things_classes):
            raise ValueError(f'category relation {pair!r} names a class '
                             f'outside the {num_things_classes} thing '
                             'classes')
        relations[front, back] = True
    return relations


def resolve_instance_overlaps(masks: Tensor,
                              scores: Tensor,
                              labels: Tensor,
                              overlap_thr: float = 0.5,
                              relations: Optional[Tensor] = None
                              ) -> Tuple[Tensor, Tensor]:
    """Overlap resolution of instance masks (sec. 3.4): the sequential
    procedure of Kirillov et al. that AUNet cites (mmdet's
    ``HeuristicFusionHead``) with AUNet's category relations.

    Masks are laid by descending score; one of which more than
    ``overlap_thr`` is already taken is dropped (so a dropped instance hides
    nothing), otherwise it takes its free pixels. ``relations[a, b]``: an
    instance of class a is never covered by one of class b, so it also takes
    the pixels of laid class-b instances (:func:`lay_things_by_score`).

    Args:
        masks (Tensor): (K, H, W) bool instance masks.
        scores (Tensor): (K, ) scores.
        labels (Tensor): (K, ) thing labels in [0, T).
        overlap_thr (float): drop an instance whose taken fraction exceeds
            this.
        relations (Tensor, optional): (T, T) bool from
            :func:`relation_matrix`.

    Returns:
        tuple[Tensor, Tensor]: ``instance_map`` (H, W) long, 0 = no
        instance, k = the k-th kept instance in score order; ``kept_labels``
        (K', ) their labels.
    """
    order = torch.argsort(scores, descending=True, stable=True)
    owner, _ = lay_things_by_score(masks[order].bool(), overlap_thr,
                                   labels[order], relations)
    owns = torch.zeros(len(order), dtype=torch.bool, device=masks.device)
    owns[owner[owner >= 0]] = True
    new_id = torch.cumsum(owns.long(), 0)
    instance_map = torch.where(owner >= 0, new_id[owner.clamp(min=0)],
                               torch.zeros_like(owner)) \
        if len(order) else torch.zeros_like(owner)
    return instance_map, labels[order][owns]


def stuff_from_semantic(seg_logits: Tensor, num_things_classes: int,
                        num_stuff_classes: int,
                        things_as_one_class: bool) -> Tensor:
    """Panoptic labels of the BG branch's argmax: stuff ``[T, T+S)``,
    ``T + S`` (VOID) where the argmax is a thing class.

    Args:
        seg_logits (Tensor): (S + 1, H, W) logits with ``things_as_one_class``
            (stuff first, all things last), else (T + S, H, W) in mmdet
            order.

    Returns:
        Tensor: (H, W) long.
    """
    void = num_things_classes + num_stuff_classes
    argmax = seg_logits.argmax(0)
    if things_as_one_class:
        labels = argmax + num_things_classes
        return torch.where(argmax == num_stuff_classes,
                           torch.full_like(labels, void), labels)
    return torch.where(argmax < num_things_classes,
                       torch.full_like(argmax, void), argmax)


def aunet_panoptic_fusion(masks: Tensor,
                          scores: Tensor,
                          labels: Tensor,
                          seg_logits: Tensor,
                          num_things_classes: int,
                          num_stuff_classes: int,
                          things_as_one_class: bool = True,
                          overlap_thr: float = 0.5,
                          stuff_area_limit: int = 4096,
                          relations: Optional[Tensor] = None,
                          score_thr: float = 0.5) -> Tensor:
    """Things first (:func:`resolve_instance_overlaps`' procedure on the
    instances scoring at least ``score_thr``), the rest from the BG branch;
    stuff regions below ``stuff_area_limit`` pixels (after the things) and
    unexplained pixels are VOID (``T + S``).

    Returns:
        Tensor: (H, W) long ``label + instance_id * INSTANCE_OFFSET``.
    """
    stuff = stuff_from_semantic(seg_logits, num_things_classes,
                                num_stuff_classes, things_as_one_class)
    confident = scores >= score_thr
    masks, scores, labels = masks[confident], scores[confident], \
        labels[confident]
    order = torch.argsort(scores, descending=True, stable=True)
    owner, _ = lay_things_by_score(masks[order].bool(), overlap_thr,
                                   labels[order], relations)
    pan = draw_things(stuff, owner, labels[order])
    # stuff areas count only the pixels that things did not take
    return trim_small_stuff(pan, num_things_classes, num_stuff_classes,
                            stuff_area_limit)


def semantic_labels(seg_logits: Tensor, panoptic: Tensor,
                    num_things_classes: int, num_stuff_classes: int,
                    things_as_one_class: bool) -> Tensor:
    """Semantic segmentation of the BG branch in the dataset's ``T + S``
    classes (``pred_sem_seg``).

    With all ``T + S`` classes it is the BG argmax. With all things as one
    BG class ("equ") the stuff pixels keep their class and a pixel the BG
    branch calls "thing" takes the class of the thing the fusion laid there
    (the FG branch tells the thing classes apart), or, where none was
    laid, the BG branch's best stuff class.

    Args:
        seg_logits (Tensor): BG logits, (S + 1, H, W) with
            ``things_as_one_class``, else (T + S, H, W).
        panoptic (Tensor): (H, W) :func:`aunet_panoptic_fusion` output.

    Returns:
        Tensor: (H, W) long labels in ``[0, T + S)``.
    """
    if not things_as_one_class:
        return seg_logits.argmax(0)
    argmax = seg_logits.argmax(0)
    labels = seg_logits[:num_stuff_classes].argmax(0) + num_things_classes
    panoptic_labels = panoptic % INSTANCE_OFFSET
    on_thing = (argmax == num_stuff_classes) & (
        panoptic_labels < num_things_classes)
    return torch.where(on_thing, panoptic_labels, labels)


@MODELS.register_module()
class AUNetFusionHead(BasePanopticFusionHead):
    """Parameter-free fusion of AUNet (sec. 3.4).

    ``test_cfg``: ``score_thr`` (0.5: the instances laid, "removing
    low-scoring instances" of Kirillov et al.'s procedure, at the value of
    its reference implementation, detectron2's Panoptic FPN),
    ``mask_overlap`` (0.5), ``stuff_area_limit`` (4096 px),
    ``category_relations`` (list of ``(front_class, covering_class)`` thing
    label pairs, e.g. ``[(27, 0)]``: a COCO tie is never covered by a
    person) and ``mask_thr_binary`` (0.5).

    Args:
        things_as_one_class (bool): the BG branch has S + 1 classes ("equ")
            instead of T + S.
    """

    def __init__(self,
                 num_things_classes: int = 80,
                 num_stuff_classes: int = 53,
                 things_as_one_class: bool = True,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None,
                 **kwargs) -> None:
        super().__init__(
            num_things_classes=num_things_classes,
            num_stuff_classes=num_stuff_classes,
            test_cfg=test_cfg,
            loss_panoptic=None,
            init_cfg=init_cfg,
            **kwargs)
        self.things_as_one_class = things_as_one_class
        cfg = self.test_cfg or {}
        self.score_thr = cfg.get('score_thr', 0.5)
        self.relations = relation_matrix(
            cfg.get('category_relations', []), num_things_classes)

    def loss(self, **kwargs) -> dict:
        """The fusion has no training loss."""
        return dict()

    def predict(self, mask_results_list: List[InstanceData],
                seg_preds_list: List[Tensor], **kwargs) -> List[PixelData]:
        """Per image ``PixelData(sem_seg=(1, H, W) int)`` panoptic map, with
        ``semantic_labels`` (1, H, W) long (:func:`semantic_labels`)."""
        cfg = self.test_cfg or {}
        results = []
        for instances, seg_logits in zip(mask_results_list, seg_preds_list):
            pan = aunet_panoptic_fusion(
                instances.masks.bool(),
                instances.scores,
                instances.labels,
                seg_logits,
                self.num_things_classes,
                self.num_stuff_classes,
                things_as_one_class=self.things_as_one_class,
                score_thr=self.score_thr,
                overlap_thr=cfg.get('mask_overlap', 0.5),
                stuff_area_limit=cfg.get('stuff_area_limit', 4096),
                relations=self.relations.to(seg_logits.device))
            sem = semantic_labels(seg_logits, pan, self.num_things_classes,
                                  self.num_stuff_classes,
                                  self.things_as_one_class)
            results.append(
                PixelData(sem_seg=pan[None].int(), semantic_labels=sem[None]))
        return results
