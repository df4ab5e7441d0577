"""Panoptic evaluation: the metrics (``mmpanoptic.evaluation.metrics``,
registered for configs) and the functions they are built on
(``mmpanoptic.evaluation.functional``, also used by ``eval_panoptic.py``).

The metrics are imported on first use, so that the functions load without
torch and mmengine.
"""
from .functional import *  # noqa: F401,F403
from .functional import __all__ as _functional_names

_METRICS = ('PanopticMetric', 'ThingErrorMetric')

__all__ = [*_functional_names, *_METRICS]


def __getattr__(name):
    if name in _METRICS:
        from . import metrics
        return getattr(metrics, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
