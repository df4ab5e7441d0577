from .panoptic_metric import PanopticMetric
from .thing_error_metric import ThingErrorMetric

__all__ = ['PanopticMetric', 'ThingErrorMetric']
