import subprocess
import sys


def test_module_entry_point_runs_in_a_fresh_process():
    out = subprocess.run([sys.executable, "-m", "distilvit", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0
    assert "caption" in out.stdout and "merge" in out.stdout
