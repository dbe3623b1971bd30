"""bench/store --quick: keeps the store benchmark harness runnable (numbers are not checked)."""
import os
import subprocess

from conftest import BUILD

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def test_store_bench_quick_runs_and_reports_ratios(tmp_path):
    r = subprocess.run([os.path.join(ROOT, "bench", "store"), "--quick", "--build", BUILD, "--dir-root",
                        str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for what in ("ratio list", "ratio gc per-pod cost", "ratio rm among"):
        assert what in r.stdout, r.stdout
    assert os.listdir(tmp_path) == []  # scratch data dirs are removed
