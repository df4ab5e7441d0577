"""Multi-scale + flip testing of panoptic models (UPSNet-M, AUNet's final
results) through mmengine's TTA model mechanism.

UPSNet (paper 4 and supplementary 6.1) averages the *semantic logits* over
scales and flips and runs the instance head at a single scale; the
parameter-free panoptic head then combines them. Merging final panoptic
predictions (what mmengine's ``merge_preds`` is for) cannot do that, so
:class:`PanopticTTAModel` overrides ``test_step``: every view but one only
contributes its semantic logits, and the *instance view* runs the whole
model with the averaged logits swapped in before the panoptic fusion.
"""
from typing import Callable, List, Optional, Sequence

import torch
from mmdet.structures import SampleList
from mmengine.model import BaseTTAModel
from torch import Tensor

from mmpanoptic.registry import MODELS


def undo_flip(logits: Tensor, direction: Optional[str]) -> Tensor:
    """Flip (C, H, W) logits of a flipped view back (mmdet's RandomFlip
    directions: horizontal, vertical, diagonal)."""
    dims = dict(horizontal=(-1, ), vertical=(-2, ), diagonal=(-2, -1))
    if direction is None:
        return logits
    if direction not in dims:
        raise ValueError(f'unknown flip direction {direction!r}; expected '
                         f'one of {sorted(dims)}')
    return logits.flip(dims[direction])


def average_view_logits(view_logits: Sequence[Tensor],
                        flip_directions: Sequence[Optional[str]]) -> Tensor:
    """Mean of the (C, H, W) logits of one image's views, each at the
    original image size, after undoing its flip (None: not flipped)."""
    shapes = {tuple(logits.shape) for logits in view_logits}
    if len(shapes) != 1:
        raise ValueError('TTA views must give logits at the original image '
                         f'size (rescale=True); got shapes {sorted(shapes)}')
    return torch.stack([
        undo_flip(logits, direction)
        for logits, direction in zip(view_logits, flip_directions)
    ]).mean(0)


def _flip_direction(data_sample) -> Optional[str]:
    if not data_sample.metainfo.get('flip', False):
        return None
    return data_sample.metainfo.get('flip_direction', 'horizontal')


@MODELS.register_module()
class PanopticTTAModel(BaseTTAModel):
    """Test-time augmentation by averaged semantic logits.

    The wrapped detector must provide ``predict_semantic_logits(inputs,
    data_samples)`` (per image (C, H, W) logits at the original size) and
    accept ``merge_seg_logits`` in ``predict`` (a function applied to its
    own logits before the panoptic fusion): UPSNet, AUNet.

    Args:
        module (dict | nn.Module): the detector.
        instance_view (int, optional): index of the augmented view (in
            ``TestTimeAug`` order) whose detections are used. Default: the
            unflipped view of median image size, i.e. the test scale when the
            scales are symmetric around it (as in UPSNet-M).
        data_preprocessor (dict, optional): as :class:`BaseTTAModel`.
    """

    def __init__(self,
                 module,
                 instance_view: Optional[int] = None,
                 data_preprocessor=None) -> None:
        super().__init__(module, data_preprocessor)
        missing = [
            name for name in ('predict_semantic_logits', 'predict')
            if not hasattr(self.module, name)
        ]
        if missing or 'merge_seg_logits' not in \
                self.module.predict.__code__.co_varnames:
            raise TypeError(
                f'{type(self.module).__name__} does not support semantic '
                'logit test-time augmentation (needs '
                'predict_semantic_logits() and predict(..., '
                'merge_seg_logits=...)); its paper reports no TTA')
        self.instance_view = instance_view

    def merge_preds(self, data_samples_list):
        raise RuntimeError('PanopticTTAModel merges semantic logits inside '
                           'test_step, not final predictions')

    def _pick_instance_view(self, views: List[dict]) -> int:
        if self.instance_view is not None:
            if not 0 <= self.instance_view < len(views):
                raise IndexError(f'instance_view={self.instance_view}, but '
                                 f'the TTA pipeline gives {len(views)} views')
            if _flip_direction(
                    views[self.instance_view]['data_samples'][0]):
                raise ValueError(f'instance_view={self.instance_view} is a '
                                 'flipped view; pick an unflipped one')
            return self.instance_view
        unflipped = [
            i for i, view in enumerate(views)
            if _flip_direction(view['data_samples'][0]) is None
        ]
        if not unflipped:
            raise ValueError('no unflipped TTA view to take detections '
                             'from; set instance_view')
        unflipped.sort(key=lambda i: views[i]['inputs'][0].shape[-2:].numel())
        return unflipped[(len(unflipped) - 1) // 2]

    def test_step(self, data) -> SampleList:
        """Semantic logits of every view averaged per image, then the full
        model on the instance view with the averaged logits."""
        if isinstance(data, dict):
            num_views = len(data['inputs'])
            views = [{key: value[i]
                      for key, value in data.items()}
                     for i in range(num_views)]
        else:
            views = list(data)
        instance_index = self._pick_instance_view(views)

        other_logits: List[List[Tensor]] = []  # per view, per image
        other_flips: List[List[Optional[str]]] = []
        for i, view in enumerate(views):
            if i == instance_index:
                continue
            batch = self.module.data_preprocessor(view, False)
            other_logits.append(
                self.module.predict_semantic_logits(batch['inputs'],
                                                    batch['data_samples']))
            other_flips.append(
                [_flip_direction(s) for s in batch['data_samples']])

        batch = self.module.data_preprocessor(views[instance_index], False)
        return self.module.predict(
            batch['inputs'],
            batch['data_samples'],
            rescale=True,
            merge_seg_logits=self._merger(other_logits, other_flips))

    @staticmethod
    def _merger(other_logits: List[List[Tensor]],
                other_flips: List[List[Optional[str]]]
                ) -> Callable[[List[Tensor]], List[Tensor]]:
        """The function the (unflipped) instance view applies to its own
        per-image logits: their average with every other view's."""

        def merge(own_logits: List[Tensor]) -> List[Tensor]:
            return [
                average_view_logits(
                    [logits] + [view[image] for view in other_logits],
                    [None] + [flips[image] for flips in other_flips])
                for image, logits in enumerate(own_logits)
            ]

        return merge
