"""Stop training at the first non-finite loss, naming it and the iteration."""
import math
from typing import Optional

import torch
from mmengine.hooks import Hook

from mmpanoptic.registry import HOOKS


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise ``FloatingPointError`` when any logged loss is NaN or inf.

    mmdet's ``CheckInvalidLossHook`` checks only the total loss, every 50
    iterations, with a message that names neither. This checks every loss
    term after every iteration, before the next checkpoint could store
    corrupted weights, and says which term went bad where.
    """
    priority = 'ABOVE_NORMAL'

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        bad = {}
        for name, value in (outputs or {}).items():
            if isinstance(value, torch.Tensor):
                value = value.detach().float()
                if value.numel() and not torch.isfinite(value).all():
                    bad[name] = value.flatten()[0].item()
            elif isinstance(value, float) and not math.isfinite(value):
                bad[name] = value
        if bad:
            terms = ', '.join(f'{k}={v}' for k, v in bad.items())
            raise FloatingPointError(
                f'Non-finite loss at iteration {runner.iter + 1} '
                f'(epoch {runner.epoch + 1}): {terms}. Training stopped; the '
                f'last checkpoint in {runner.work_dir} is intact.')
