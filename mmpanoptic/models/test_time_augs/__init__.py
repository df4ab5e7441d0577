from .panoptic_tta import (PanopticTTAModel, average_view_logits,
                           undo_flip)

__all__ = ['PanopticTTAModel', 'average_view_logits', 'undo_flip']
