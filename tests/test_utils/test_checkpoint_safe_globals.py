"""The allow-list that lets mmengine checkpoints load under torch's
``weights_only=True`` default (torch >= 2.6), and its absence before torch
2.4, where ``torch.serialization.add_safe_globals`` does not exist."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from mmpanoptic.engine.rng_state import capture_rng_state
from mmpanoptic.utils.checkpoint_safe_globals import (
    allow_mmengine_checkpoint_globals, mmengine_checkpoint_globals)

from ..conftest import REPO_ROOT


@pytest.fixture
def empty_allow_list():
    """torch's process-wide allow-list emptied for one test, then restored
    (``import mmpanoptic`` has filled it already)."""
    serialization = torch.serialization
    saved = serialization.get_safe_globals()
    add = serialization.add_safe_globals  # a test may hide it
    serialization.clear_safe_globals()
    yield
    serialization.clear_safe_globals()
    add(saved)


def _mmengine_like_checkpoint(path) -> dict:
    """What mmengine's runner and PanopticRunner put into a checkpoint
    besides tensors: a message hub of HistoryBuffers and the generators'
    states (numpy's is a uint32 array)."""
    buffer = HistoryBuffer()
    buffer.update(0.5)
    buffer.update(np.float64(0.25))
    checkpoint = dict(
        state_dict=dict(weight=torch.arange(3.0)),
        meta=dict(rng_state=capture_rng_state()),
        message_hub=dict(log_scalars={'train/loss': buffer}))
    torch.save(checkpoint, path)
    return checkpoint


def test_dtype_classes_are_every_numpy_dtype_class():
    """The dtype classes come from ``np.typecodes`` (any numpy); on a numpy
    with the ``numpy.dtypes`` module they are exactly its classes."""
    found = set(mmengine_checkpoint_globals())
    expected = {
        getattr(np.dtypes, name)
        for name in dir(np.dtypes) if name.endswith('DType')
    }
    assert expected <= found
    assert type(np.dtype('uint32')) in found  # numpy's RNG state


def test_checkpoint_loads_with_weights_only(tmp_path, empty_allow_list):
    path = tmp_path / 'iter_1.pth'
    saved = _mmengine_like_checkpoint(path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)  # nothing allowed yet

    assert allow_mmengine_checkpoint_globals() is True
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded['state_dict']['weight'],
                       saved['state_dict']['weight'])
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert buffer.data[0].tolist() == [0.5, 0.25]
    numpy_state = loaded['meta']['rng_state']['numpy']
    assert numpy_state[1].dtype == np.uint32
    assert np.array_equal(numpy_state[1],
                          saved['meta']['rng_state']['numpy'][1])


def test_without_allow_list_api_nothing_is_registered(monkeypatch,
                                                      empty_allow_list):
    """torch < 2.4 has no ``add_safe_globals`` (and loads with
    ``weights_only=False`` by default): nothing to do, no error."""
    monkeypatch.delattr(torch.serialization, 'add_safe_globals')
    assert allow_mmengine_checkpoint_globals() is False
    assert torch.serialization.get_safe_globals() == []


def test_import_without_allow_list_api():
    """The registries (which allow the globals) import on a torch without
    the allow-list API."""
    code = ('import torch\n'
            'del torch.serialization.add_safe_globals\n'
            'import mmpanoptic.registry\n'
            'print("imported", mmpanoptic.registry.MODELS.name)\n')
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True,
                            text=True,
                            env=env,
                            cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'imported' in result.stdout


def test_registries_allow_the_globals():
    """Every build goes through ``mmpanoptic.registry``: importing it is
    enough for ``tools/test.py`` and ``--resume`` to load checkpoints."""
    code = ('import torch\n'
            'import mmpanoptic.registry\n'
            'from mmengine.logging.history_buffer import HistoryBuffer\n'
            'print(HistoryBuffer in torch.serialization.get_safe_globals())\n')
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True,
                            text=True,
                            env=env,
                            cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ['True']
