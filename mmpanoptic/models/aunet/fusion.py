"""AUNet inference fusion (sec. 3.4): NMS-like resolution of thing overlaps
by score with category relations, then stuff from the BG branch.

Pure functions (:func:`resolve_instance_overlaps`,
:func:`stuff_from_semantic`, :func:`aunet_panoptic_fusion`) and a thin
registered head that calls them.
"""
from typing import List, Optional, Sequence, Tuple

import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.models.seg_heads.panoptic_fusion_heads import \
    BasePanopticFusionHead
from mmdet.utils import OptConfigType, OptMultiConfig
from mmengine.structures import InstanceData, PixelData
from torch import Tensor

from mmpanoptic.registry import MODELS


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


def _as_bytes(masks: Tensor) -> Tensor:
    """A bool tensor as uint8 without a copy when possible (reductions on
    uint8 are several times faster than on bool)."""
    if masks.dtype == torch.bool and masks.is_contiguous():
        return masks.view(torch.uint8)
    return masks.to(torch.uint8)


def _winners(covering: Tensor,
             beats: Tensor,
             chunk_size: int = 65536) -> Tensor:
    """Per pixel the covering instance no other covering instance beats
    (the highest-scoring one where relations form a cycle); -1 where none
    covers.

    Without category relations the winner is the first (highest-scoring)
    covering instance. Relations change ``beats`` only in the columns of
    the instances whose class takes part in one ("involved"); an instance
    that is not involved is unbeaten exactly where no higher one covers, i.e.
    where it is the first covering instance. So only the involved rows need
    the (K_inv, K) x (K, P) product, on the pixels they cover.

    Args:
        covering (Tensor): (K, P) bool, instances sorted by descending score.
        beats (Tensor): (K, K) bool, ``[j, i]``: j wins over i.
        chunk_size (int): overlapping pixels resolved at once.
    """
    num, num_pixels = covering.shape
    if num == 0:
        return torch.full((num_pixels, ), -1, dtype=torch.long,
                          device=covering.device)
    as_bytes = _as_bytes(covering)
    # sorted by score: the first covering instance is the highest-scoring
    # (max returns the first maximal index)
    any_cover, highest = as_bytes.max(0)
    winner = torch.where(any_cover > 0, highest, torch.full_like(highest, -1))
    rank = torch.arange(num, device=covering.device)
    higher = rank[:, None] < rank[None, :]
    involved = torch.nonzero((beats != higher).any(0)).squeeze(1)
    if involved.numel() == 0:
        return winner
    # only pixels an involved instance covers can change (where it is the
    # only one, it is the highest anyway)
    pixels = torch.nonzero(as_bytes[involved].amax(0)).squeeze(1)
    is_involved = torch.zeros(num, dtype=torch.bool, device=covering.device)
    is_involved[involved] = True
    beaten_by = beats[:, involved].t().float()  # (K_inv, K)
    # chunks of pixels bound the (K, P_chunk) temporaries
    for chunk in pixels.split(chunk_size):
        cover = covering[:, chunk]
        lost = (beaten_by @ cover.float()) > 0
        unbeaten = cover[involved] & ~lost  # (K_inv, P_chunk)
        first_involved = torch.where(
            unbeaten.any(0), involved[unbeaten.to(torch.uint8).argmax(0)],
            torch.full_like(chunk, num))
        top = highest[chunk]
        # the highest instance wins unbeaten when it is not involved
        first_free = torch.where(is_involved[top],
                                 torch.full_like(top, num), top)
        best = torch.minimum(first_involved, first_free)
        winner[chunk] = torch.where(best < num, best, top)
    return winner


def resolve_instance_overlaps(masks: Tensor,
                              scores: Tensor,
                              labels: Tensor,
                              overlap_thr: float = 0.5,
                              relations: Optional[Tensor] = None
                              ) -> Tuple[Tensor, Tensor]:
    """NMS-like overlap resolution of instance masks (sec. 3.4).

    A pixel covered by several instances goes to the higher-scoring one,
    unless a category relation protects the other (``relations[a, b]``: an
    instance of class a is never covered by one of class b). An instance of
    which more than ``overlap_thr`` of its mask is taken by others is
    dropped (as in the heuristic of Kirillov et al.), and the pixels are
    resolved again without the dropped ones.

    Args:
        masks (Tensor): (K, H, W) bool instance masks.
        scores (Tensor): (K, ) scores.
        labels (Tensor): (K, ) thing labels in [0, T).
        overlap_thr (float): drop an instance whose hidden fraction exceeds
            this.
        relations (Tensor, optional): (T, T) bool from
            :func:`relation_matrix`.

    Returns:
        tuple[Tensor, Tensor]: ``instance_map`` (H, W) long, 0 = no
        instance, k = the k-th kept instance in score order; ``kept_labels``
        (K', ) their labels.
    """
    num, height, width = masks.shape
    if num == 0:
        return masks.new_zeros((height, width), dtype=torch.long), \
            labels.new_zeros((0, ))
    order = torch.argsort(scores, descending=True, stable=True)
    masks, labels = masks[order].bool(), labels[order]
    rank = torch.arange(num, device=masks.device)
    higher = rank[:, None] < rank[None, :]  # [j, i]: j scores higher
    if relations is not None:
        # protect[j, i]: j's class may never be covered by i's class
        protect = relations[labels[:, None], labels[None, :]]
        beats = protect | (higher & ~protect.t())
    else:
        beats = higher
    covering = masks.reshape(num, -1)
    winner = _winners(covering, beats)
    area = _as_bytes(covering).sum(1, dtype=torch.int32)
    visible = torch.zeros(num, dtype=torch.long, device=masks.device)
    valid_winner = winner >= 0
    visible.index_add_(0, winner[valid_winner],
                       torch.ones_like(winner[valid_winner]))
    hidden_fraction = 1 - visible.float() / area.clamp(min=1).float()
    keep = (area > 0) & (hidden_fraction <= overlap_thr)
    # again without the dropped instances (rows of nothing never win or
    # beat: dropping them is the same as clearing them)
    kept = torch.nonzero(keep).squeeze(1)
    kept_winner = _winners(covering[kept], beats[kept][:, kept])
    winner = kept_winner if kept.numel() == 0 else torch.where(
        kept_winner >= 0, kept[kept_winner.clamp(min=0)], kept_winner)
    # ids 1..K' in score order for the kept instances that own pixels
    owns = torch.zeros(num, dtype=torch.bool, device=masks.device)
    owns[winner[winner >= 0]] = True
    new_id = torch.cumsum(owns.long(), 0) * owns.long()
    instance_map = torch.where(winner >= 0, new_id[winner.clamp(min=0)],
                               torch.zeros_like(winner))
    return instance_map.reshape(height, width), labels[owns]


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
                          relations: Optional[Tensor] = None) -> Tensor:
    """Things first (overlaps resolved by score and category relations),
    the rest from the BG branch; stuff regions below ``stuff_area_limit``
    and unexplained pixels are VOID (``T + S``).

    Returns:
        Tensor: (H, W) long ``label + instance_id * INSTANCE_OFFSET``.
    """
    void = num_things_classes + num_stuff_classes
    pan = stuff_from_semantic(seg_logits, num_things_classes,
                              num_stuff_classes, things_as_one_class)
    stuff_ids, counts = torch.unique(pan, return_counts=True)
    small = stuff_ids[(counts < stuff_area_limit) & (stuff_ids != void)]
    pan = torch.where(torch.isin(pan, small), torch.full_like(pan, void),
                      pan)
    instance_map, kept_labels = resolve_instance_overlaps(
        masks, scores, labels, overlap_thr, relations)
    if kept_labels.numel():
        thing_ids = torch.cat([kept_labels.new_zeros(1), kept_labels]) + \
            torch.arange(kept_labels.numel() + 1,
                         device=pan.device) * INSTANCE_OFFSET
        pan = torch.where(instance_map > 0, thing_ids[instance_map].long(),
                          pan)
    return pan


@MODELS.register_module()
class AUNetFusionHead(BasePanopticFusionHead):
    """Parameter-free fusion of AUNet (sec. 3.4).

    ``test_cfg``: ``mask_overlap`` (0.5), ``stuff_area_limit`` (4096 px),
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
        self.relations = relation_matrix(
            cfg.get('category_relations', []), num_things_classes)

    def loss(self, **kwargs) -> dict:
        """The fusion has no training loss."""
        return dict()

    def predict(self, mask_results_list: List[InstanceData],
                seg_preds_list: List[Tensor], **kwargs) -> List[PixelData]:
        """Per image ``PixelData(sem_seg=(1, H, W) int)``."""
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
                overlap_thr=cfg.get('mask_overlap', 0.5),
                stuff_area_limit=cfg.get('stuff_area_limit', 4096),
                relations=self.relations.to(seg_logits.device))
            results.append(PixelData(sem_seg=pan[None].int()))
        return results
