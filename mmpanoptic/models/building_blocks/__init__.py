"""What two or more methods use: the two-stage base, the deformable
semantic FPN head, box regions and mask pasting, panoptic composition
(score-ordered thing laying, stuff trimming) and test-time augmentation."""
from .deformable_semantic_head import (UPSNetSemanticHead,
                                       crop_semantic_targets,
                                       resize_semantic_logits)
from .mask_paste import box_pixel_ranges, box_region_masks, paste_masks
from .panoptic_composition import (draw_things, lay_things_by_score,
                                   trim_small_stuff)
from .panoptic_tta import PanopticTTAModel, average_view_logits, undo_flip
from .two_stage_panoptic import TwoStagePanopticBase, rename_rpn_losses

__all__ = [
    'TwoStagePanopticBase', 'rename_rpn_losses', 'UPSNetSemanticHead',
    'crop_semantic_targets', 'resize_semantic_logits', 'box_region_masks',
    'box_pixel_ranges', 'paste_masks', 'lay_things_by_score', 'draw_things',
    'trim_small_stuff', 'PanopticTTAModel', 'average_view_logits',
    'undo_flip'
]
