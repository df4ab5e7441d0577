"""Let mmengine checkpoints load under torch's ``weights_only=True`` default.

torch >= 2.6 unpickles ``torch.load`` files with ``weights_only=True`` unless
told otherwise; mmengine 0.10 calls ``torch.load`` without the argument, and
its checkpoints carry a message hub (``HistoryBuffer`` of numpy arrays). Every
``tools/test.py`` run and every ``--resume`` would fail with
"Weights only load failed". Instead of switching the safe loader off, we
allow exactly the globals that mmengine's own checkpoints contain.
"""
import builtins

import numpy as np
import torch


def mmengine_checkpoint_globals() -> list:
    """The non-tensor globals found in checkpoints written by mmengine."""
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = np.core.multiarray
    # every concrete dtype class (numpy.dtypes.Float64DType, ...): log
    # buffers and the saved numpy RNG state (uint32) are numpy arrays
    dtype_classes = [
        getattr(np.dtypes, name) for name in dir(np.dtypes)
        if name.endswith('DType')
    ]
    # builtins.getattr: numpy pickles dtype classes through it; under
    # weights_only, a REDUCE may still only call allow-listed callables.
    return [
        HistoryBuffer, np.ndarray, np.dtype, multiarray._reconstruct,
        multiarray.scalar, builtins.getattr
    ] + dtype_classes


def allow_mmengine_checkpoint_globals() -> None:
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
