"""A Runner that never leaves a truncated checkpoint and resumes exactly.

mmengine's Runner writes checkpoints in place (a kill during ``torch.save``
leaves a truncated ``iter_N.pth``), trusts ``last_checkpoint`` even when the
kill emptied it, does not keep the random generators' states (a resumed run
draws other flips and RoI samples than an uninterrupted one), and calls
``torch.cuda.set_device`` when it initialises a distributed run and gives
DistributedDataParallel GPU ``device_ids`` (both fail on CPU-only
machines). This subclass fixes these and is otherwise mmengine's Runner.
"""
import glob
import os
import os.path as osp
import re
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

from mmpanoptic.registry import RUNNERS
from .rng_state import capture_rng_state, restore_rng_state

PARTIAL_SUFFIX = '.part'


def latest_complete_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint to resume from: the one named in ``last_checkpoint``
    if that file is readable and the checkpoint exists, else the
    ``iter_N.pth``/``epoch_N.pth`` with the largest N (files are written
    atomically by :class:`PanopticRunner`, so every one is complete)."""
    record = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(record):
        with open(record) as f:
            named = f.read().strip()
        if named and osp.isfile(named):
            return named
    numbered = []
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        match = re.fullmatch(r'(?:iter|epoch)_(\d+)\.pth', osp.basename(path))
        if match:
            numbered.append((int(match.group(1)), path))
    return max(numbered)[1] if numbered else None


class _RestoreRNGAfterSkip:
    """Wraps the train loop's data iterator: lets ``skip`` batches through
    (the ones a resumed loop skips, whose loading draws from the
    generators), then restores the saved generator states right before the
    first new batch is loaded, exactly where the interrupted run was."""

    def __init__(self, iterator, skip: int, state: dict):
        self.iterator, self.skip, self.state = iterator, skip, state

    def __iter__(self):
        return self

    def __next__(self):
        if self.skip > 0:
            self.skip -= 1
        elif self.state is not None:
            restore_rng_state(self.state)
            self.state = None
        return next(self.iterator)

    def __getattr__(self, name):
        return getattr(self.iterator, name)


class RestoreRNGStateHook(Hook):
    """Restores the generators' states saved with the resumed checkpoint.

    Exact for the main process (model, samplers, transforms when
    ``num_workers=0``); dataloader workers are re-seeded by mmengine."""
    priority = 'VERY_HIGH'

    def __init__(self, state: dict):
        self.state = state

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        loop.dataloader_iterator = _RestoreRNGAfterSkip(
            loop.dataloader_iterator, loop.iter, self.state)


@RUNNERS.register_module()
class PanopticRunner(Runner):
    """mmengine's Runner with atomic checkpoints, robust auto-resume,
    RNG-exact resume and CPU (gloo) distributed initialisation."""

    def setup_env(self, env_cfg: dict) -> None:
        if (self._launcher == 'pytorch' and not torch.cuda.is_available()
                and not torch_dist.is_initialized()):
            # mmengine's init_dist calls torch.cuda.set_device first
            torch_dist.init_process_group(backend='gloo')
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg: Optional[dict], model):
        """On CPU, DistributedDataParallel must get ``device_ids=None``
        (mmengine passes ``[LOCAL_RANK]``, valid only for GPUs)."""
        if self.distributed and not torch.cuda.is_available():
            model_wrapper_cfg = dict(
                type='MMDistributedDataParallel',
                broadcast_buffers=False,
                find_unused_parameters=self.cfg.get(
                    'find_unused_parameters', False),
                **(model_wrapper_cfg or {}))
            model_wrapper_cfg['device_ids'] = None
        return super().wrap_model(model_wrapper_cfg, model)

    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, *args,
                        meta: Optional[dict] = None, **kwargs) -> None:
        """Write ``filename.part``, then rename it: a checkpoint file is
        either complete or absent. The generators' states go into meta."""
        meta = dict(meta or {})
        meta['rng_state'] = capture_rng_state()
        local = '://' not in out_dir
        target = filename + PARTIAL_SUFFIX if local else filename
        super().save_checkpoint(out_dir, target, *args, meta=meta, **kwargs)
        if local:
            os.replace(osp.join(out_dir, target), osp.join(out_dir, filename))

    def load_or_resume(self) -> None:
        if self._resume and self._load_from is None and not self._has_loaded:
            # auto-resume: a missing or emptied `last_checkpoint` (a kill
            # while it was written) must not restart training from scratch
            self._load_from = latest_complete_checkpoint(self.work_dir)
            self.logger.info(
                f'Auto resumed from the latest checkpoint {self._load_from}.')
            if self._load_from is None:
                self._resume = False
        super().load_or_resume()

    def resume(self, filename: str, *args, **kwargs) -> None:
        super().resume(filename, *args, **kwargs)
        meta = _load_checkpoint(filename, map_location='cpu')['meta']
        if 'rng_state' in meta:
            # the loop first skips the data it already trained on, which
            # draws from the generators: restore them after that
            self.register_hook(RestoreRNGStateHook(meta['rng_state']))
