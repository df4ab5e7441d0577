from .panoptic_inferencer import PanopticInferencer, panoptic_to_coco

__all__ = ['PanopticInferencer', 'panoptic_to_coco']
