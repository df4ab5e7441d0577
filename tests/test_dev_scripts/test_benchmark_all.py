""".dev_scripts/benchmark_all.py: the report and its verdicts, and
the synthetic training batch it times."""
import argparse
import os.path as osp

from ..conftest import REPO_ROOT, load_script


def _load_tool():
    return load_script('.dev_scripts/benchmark_all.py')


def _row(name, latency, target=None, pq=None):
    return dict(
        method=dict(name=name, target=target), shape=(800, 1216),
        params_m=46.0, flops='250', latency_s=latency,
        postprocess_share=0.05, dcn_share=0.0, peak_memory_mb=600,
        train_step_s=1.5, pq=pq or {})


def test_report_ratios_and_verdicts(tmp_path):
    tool = _load_tool()
    rows = [
        _row('Panoptic FPN (mmdet)', 2.0, pq=dict(
            PQ=40.0, SQ=80.0, RQ=50.0, PQ_th=30.0, SQ_th=75.0, RQ_th=40.0,
            PQ_st=50.0, SQ_st=85.0, RQ_st=58.8)),
        _row('A', 2.2, target=1.15), _row('B', 2.5, target=1.15),
        _row('C', 1.0, pq=dict(error='training failed, see x.log'))
    ]
    args = argparse.Namespace(runs=5, warmup=1, force_dets=100,
                              train_shape=[512, 512])
    out = tmp_path / 'benchmarks.md'
    tool.write_report(str(out), rows, args, 'python benchmark_all.py')
    text = out.read_text()
    assert '| A | 800x1216 | 46.0 | 250 | 2.20 | 1.10 | <= 1.15: met |' in text
    # 1.25 / 1.15 - 1 = 8.7%
    assert '| B | 800x1216 | 46.0 | 250 | 2.50 | 1.25 | <= 1.15: missed ' \
        'by 9% |' in text
    assert '| 40.0 | 80.0 | 50.0 | 30.0 | 75.0 | 40.0 | 50.0 | 85.0 | ' \
        '58.8 |' in text
    # every row has as many cells as the header
    table = [line for line in text.splitlines() if line.startswith('|')]
    assert len({line.count('|') for line in table}) == 1
    assert 'command: `python benchmark_all.py`' in text
    # a failed training is reported in the row, not hidden
    assert '| 0.50 | - | 5.0 | 0.0 | 600 | 1.50 | training failed, see ' \
        'x.log |' in text
    tool.write_chart(tool.chart_path(str(out)), rows)
    assert osp.getsize(tool.chart_path(str(out))) > 1000


def test_training_batch_is_two_packed_panoptic_samples():
    tool = _load_tool()
    batch = tool.training_batch(64, 96)
    assert len(batch['inputs']) == 2
    assert batch['inputs'][0].shape == (3, 64, 96)
    sample = batch['data_samples'][0]
    assert sample.gt_sem_seg.sem_seg.shape == (1, 64, 96)
    assert len(sample.gt_instances) > 0


def test_loads_the_benchmark_tool_from_tools():
    # benchmark_all.py times every model with tools/analysis_tools/
    # benchmark.py, found from the repository root
    tool = _load_tool()
    benchmark = tool._benchmark_tool()
    assert benchmark.__file__ == osp.join(REPO_ROOT, 'tools',
                                          'analysis_tools', 'benchmark.py')
    assert callable(benchmark.benchmark)
