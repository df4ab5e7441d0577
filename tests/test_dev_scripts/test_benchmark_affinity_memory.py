""".dev_scripts/benchmark_affinity_memory.py: a tiny run from the
repository root, each step in its own worker process."""
import json
import subprocess
import sys

from ..conftest import REPO_ROOT, load_script


def test_parse_size():
    tool = load_script('.dev_scripts/benchmark_affinity_memory.py')
    assert tool.parse_size('400x656') == (400, 656)
    assert tool.parse_size('32X48') == (32, 48)


def test_tiny_run_measures_every_mode(tmp_path):
    out = tmp_path / 'memory.json'
    result = subprocess.run([
        sys.executable, '.dev_scripts/benchmark_affinity_memory.py',
        '--sizes', '32x48', '--dets', '3', '--things', '2', '--stuff', '2',
        '--channels', '8', '--explicit-up-to', '32x48', '--json', str(out)
    ], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(out.read_text())
    assert [row['mode'] for row in rows] == [
        'inference', 'training', 'explicit'
    ]
    for row in rows:
        assert row['input'] == '32x48'
        assert row['map'] == '8x12'  # d = 4
        assert row['pixels'] == 96
        assert row['psi_channels'] == 3 + 2  # detections + stuff
        assert row['psi_mb'] == 5 * 96 * 4 / 1024**2
        assert row['explicit_affinity_gb'] == 96**2 * 4 / 1024**3
    assert '| 32x48 | 8x12 | 96 |' in result.stdout
