"""Let mmengine checkpoints load under torch's ``weights_only=True`` default.

torch >= 2.6 unpickles ``torch.load`` files with ``weights_only=True`` unless
told otherwise; mmengine 0.10 calls ``torch.load`` without the argument, and
its checkpoints carry a message hub (``HistoryBuffer`` of numpy arrays). Every
``tools/test.py`` run and every ``--resume`` would fail with
"Weights only load failed". Instead of switching the safe loader off, we
allow exactly the globals that mmengine's own checkpoints contain.

The allow-list (``torch.serialization.add_safe_globals``) exists from torch
2.4 on; older torch loads with ``weights_only=False`` by default and needs
none.
"""
import builtins

import numpy as np
import torch


def mmengine_checkpoint_globals() -> list:
    """The non-tensor globals found in checkpoints written by mmengine."""
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = np.core.multiarray
    # every concrete dtype class (numpy.dtypes.Float64DType, ...; the
    # numpy.dtypes module itself is numpy >= 1.25 only): log buffers and the
    # saved numpy RNG state (uint32) are numpy arrays
    dtype_classes = sorted(
        {type(np.dtype(code))
         for code in np.typecodes['All']},
        key=lambda cls: cls.__name__)
    # builtins.getattr: numpy pickles dtype classes through it; under
    # weights_only, a REDUCE may still only call allow-listed callables.
    return [
        HistoryBuffer, np.ndarray, np.dtype, multiarray._reconstruct,
        multiarray.scalar, builtins.getattr
    ] + dtype_classes


def allow_mmengine_checkpoint_globals() -> bool:
    """Allow-list :func:`mmengine_checkpoint_globals` for ``torch.load``.

    Returns:
        bool: whether torch has an allow-list (torch >= 2.4); without one
        nothing is done.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return False
    add_safe_globals(mmengine_checkpoint_globals())
    return True
