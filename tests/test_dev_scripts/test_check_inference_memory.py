""".dev_scripts/check_inference_memory.py: a short run from the repository
root."""
import subprocess
import sys

from ..conftest import REPO_ROOT


def test_short_run_reports_the_growth():
    # a tolerance no run reaches: this checks the report, not the memory
    result = subprocess.run([
        sys.executable, '.dev_scripts/check_inference_memory.py',
        'panoptic-fcn_r18_fpn_1xb4-800i_synthetic', '--num', '4', '--min-size',
        '32', '--max-size', '48', '--tolerance-mb', '1000000'
    ],
                            cwd=REPO_ROOT,
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    # warm-up is the first prediction; RSS is printed after each of the 4
    assert [line.split()[0] for line in lines[1:5]] == ['1', '2', '3', '4']
    assert 'RSS growth after warm-up (1 predictions)' in result.stdout
    assert 'over 3 predictions' in result.stdout
    assert result.stdout.rstrip().endswith('OK: memory stays flat')
