from .panoptic_inferencer import (PanopticInferencer, panoptic_to_coco,
                                  segment_ids_to_rgb)

__all__ = ['PanopticInferencer', 'panoptic_to_coco', 'segment_ids_to_rgb']
