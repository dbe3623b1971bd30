"""bench/run --quick runs every case once so that the benchmark harness cannot rot."""
import os
import subprocess
import sys

from conftest import BUILD

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "run")


def test_bench_run_quick():
    r = subprocess.run([sys.executable, BENCH, "--quick", "--no-install"], capture_output=True, text=True,
                       timeout=900, env={**os.environ, "POD_BUILD_DIR": BUILD})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("# pod benchmarks (quick smoke run)")
    assert lines[1].split("|")[1].strip() == "case"
    cases = {l.split("|")[1].strip() for l in lines[3:] if l.startswith("|")}
    assert "run /bin/true" in cases
    # a case that errors out is reported as "skipped: error: ..." — the harness itself must not be broken
    assert not any("error:" in l for l in lines), r.stdout
