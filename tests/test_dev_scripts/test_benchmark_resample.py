""".dev_scripts/benchmark_resample.py: inputs and a real run."""
import sys

import torch

from ..conftest import load_script


def _load_tool():
    return load_script('.dev_scripts/benchmark_resample.py')


def test_smooth_maps_vary_less_between_neighbours_than_random_ones():
    tool = _load_tool()
    gen = torch.Generator().manual_seed(0)
    smooth = tool.make_maps(3, (40, 48), 'smooth', gen)
    random = tool.make_maps(3, (40, 48), 'random', gen)
    assert smooth.shape == random.shape == (3, 40, 48)
    assert smooth.dtype == torch.float32 and smooth.is_contiguous()

    def step(maps):
        return (maps[:, :, 1:] - maps[:, :, :-1]).abs().mean()

    assert step(smooth) < 0.5 * step(random)


def test_alternating_medians_runs_each_function_in_turn():
    tool = _load_tool()
    calls = []
    medians = tool.alternating_medians(
        [lambda: calls.append('a'), lambda: calls.append('b')], repeats=3,
        warmup=1)
    assert calls == ['a', 'b'] * 4
    assert len(medians) == 2 and all(m >= 0 for m in medians)


def test_threshold_case_prints_a_row_where_both_implementations_agree(
        monkeypatch, capsys):
    tool = _load_tool()
    monkeypatch.setattr(sys, 'argv', [
        'benchmark_resample.py', '--cases', 'threshold', '--inputs',
        'smooth', '--repeats', '1', '--warmup', '0'
    ])
    tool.main()
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line.startswith('threshold')]
    assert len(rows) == 1
    name, kind, maps, out, compiled, reference, ratio, agree = rows[0]
    assert (kind, maps, out) == ('smooth', '100x128x192', '512x768')
    assert float(compiled) > 0 and float(reference) > 0
    assert float(agree) > 99.99
