""".dev_scripts/benchmark_pq.py: a tiny run prints its table, and all the
evaluators it times agree (no timing is asserted)."""
from ..conftest import load_script


def test_benchmark_pq_prints_the_table_and_all_agree(capsys):
    benchmark = load_script('.dev_scripts/benchmark_pq.py')
    benchmark.main([
        '--sizes', '64x48', '96x40', '--images', '3', '2', '--repeat', '1',
        '--memory-images', '10'
    ])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith('Per-image time, median of 1 alternating')
    header = lines[1].split(' | ')
    assert header[:7] == [
        'size', 'images', 'segments/img', 'panopticapi ms', 'hotcoco ms',
        'PanopticMetric ms', 'eval_panoptic ms'
    ]
    rows = [line.split(' | ') for line in lines[2:4]]
    assert [row[0] for row in rows] == ['64x48', '96x40']
    for row in rows:
        assert len(row) == len(header)
        assert all(float(value) > 0 for value in row[3:9])
        assert row[-1] == 'yes'  # every evaluator equals panopticapi
    assert lines[4].startswith('Memory held by PanopticMetric')
    assert not any(line.startswith('MISMATCH') for line in lines)
