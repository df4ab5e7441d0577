"""The part of UPSNet, AUNet and the Unifying model that ONNX holds without
custom operators.

Their RoI stage needs mmcv's operators (``nms`` for the proposals,
``RoIAlign`` for the box and mask features; AUNet's RoIUpsample), and what
follows it (box and mask heads, the panoptic heads, the fusion) works on the
proposals. :class:`TwoStageFeatureGraph` is everything before: backbone and
neck (with UPSNet's global context or the Unifying model's SE step), the RPN
head's score and box maps per level and, where the semantic head depends on
the features only (UPSNet's and the Unifying model's deformable semantic
head; AUNet's background branch takes RoI mask maps), the semantic logits
at 1/4.

The deformable semantic head zero-pads levels smaller than its 3x3 kernel, a
branch on the level's size that a trace fixes: the graph takes inputs of at
least :attr:`TwoStageFeatureGraph.min_input_side` pixels per side (96 for a
deformable head: 3 pixels at P5), and is exported at such a size.
"""
from typing import Tuple

from torch import Tensor, nn

from mmpanoptic.models.building_blocks.deformable_semantic_head import \
    UPSNetSemanticHead


class TwoStageFeatureGraph(nn.Module):
    """Backbone, neck, RPN head maps and (UPSNet, Unifying) semantic
    logits of a :class:`TwoStagePanopticBase` model.

    ``forward`` takes one preprocessed image (1, 3, H, W) and returns, in
    ``output_names`` order: the neck levels ``feat_i`` (1, C, H_i, W_i), the
    RPN ``rpn_cls_i`` (1, A, H_i, W_i) and ``rpn_reg_i`` (1, 4A, H_i, W_i),
    and ``seg_logits`` (1, T + S, H/4, W/4) when :attr:`with_semantic`.
    Inputs smaller than :attr:`min_input_side` are refused.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.with_semantic = isinstance(model.semantic_head,
                                        UPSNetSemanticHead)
        num_levels = len(model.rpn_head.prior_generator.strides)
        names = [f'feat_{i}' for i in range(num_levels)]
        names += [f'rpn_cls_{i}' for i in range(num_levels)]
        names += [f'rpn_reg_{i}' for i in range(num_levels)]
        if self.with_semantic:
            names.append('seg_logits')
        self.output_names = tuple(names)
        head = model.semantic_head
        self.min_input_side = 1
        if self.with_semantic and head.deformable:
            self.min_input_side = 3 * 2**(head.num_levels + 1)

    def forward(self, image: Tensor) -> Tuple[Tensor, ...]:
        if min(image.shape[-2:]) < self.min_input_side:
            raise ValueError(
                f'input {tuple(image.shape[-2:])} is smaller than '
                f'{self.min_input_side} px: the semantic head pads its '
                'smallest level there, which the exported graph does not')
        feats = self.model.extract_feat(image)
        cls_scores, bbox_preds = self.model.rpn_head(feats)
        outputs = (*feats, *cls_scores, *bbox_preds)
        if self.with_semantic:
            outputs += (self.model.semantic_head(feats)['seg_preds'], )
        return outputs
