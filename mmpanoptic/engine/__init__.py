from .hooks import NonFiniteLossHook
from .rng_state import capture_rng_state, restore_rng_state
from .runner import PanopticRunner, latest_complete_checkpoint

__all__ = [
    'NonFiniteLossHook', 'PanopticRunner', 'capture_rng_state',
    'restore_rng_state', 'latest_complete_checkpoint'
]
