from .panoptic_metric import PanopticMetric

__all__ = ['PanopticMetric']
