"""`pod run` writes the apps' output to its own stdout and stderr, whatever they are (and to `pod logs`)."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import POD_BIN
from runhelpers import BUSYBOX_ACI, STAGE1, both, flavor, logs, run_pod, sh  # noqa: F401 (fixture)


def popen_pod(pod, flavor, *app_args, **popen):
    """`pod run` in the background with the given stdio; returns (Popen, uuid file)."""
    uuid_file = os.path.join(pod.dir, f"uuid-{time.monotonic_ns()}")
    cmd = [POD_BIN, "--dir", pod.dir, "run", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}",
           f"--uuid-file-save={uuid_file}", BUSYBOX_ACI, *app_args]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, text=True, **popen), uuid_file


def prefixed(text, app):
    return [l for l in text.splitlines() if l.startswith(app + ": ")]


@both
def test_one_app_output_is_exactly_what_it_wrote(pod, flavor):
    r, u = run_pod(pod, flavor, "--exec", "/bin/echo", "--", "hi")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hi\n"
    r, u = run_pod(pod, flavor, *sh("echo out; echo err >&2; printf partial"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "out\npartial"
    assert "err\n" in r.stderr and "out" not in r.stderr
    assert sorted(logs(pod, u).splitlines()) == ["err", "out", "partial"]


def test_two_apps_write_prefixed_whole_lines(pod, flavor):
    r, u = run_pod(pod, flavor, *sh("echo one; echo two >&2; printf three; head -c 40000 /dev/zero | tr '\\0' x >&2"),
                   "---", BUSYBOX_ACI, "--name", "web", *sh("echo w1; printf 'w2\\nw3'"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("\n")
    assert prefixed(r.stdout, "busybox") == ["busybox: one", "busybox: three"]
    assert prefixed(r.stdout, "web") == ["web: w1", "web: w2", "web: w3"]
    assert len(r.stdout.splitlines()) == 5
    # A line without a newline is copied in pieces of 16 KiB.
    assert prefixed(r.stderr, "busybox") == ["busybox: two"] + ["busybox: " + "x" * n for n in (16384, 16384, 7232)]
    assert logs(pod, u, "web") == "w1\nw2\nw3"
    log = logs(pod, u, "busybox")
    assert "one\n" in log and "two\n" in log and "three" in log and log.count("x") == 40000


@both
def test_a_stdout_nobody_reads_does_not_hang_the_pod(pod, flavor):
    # 4 MB into a pipe that is never read: the copy is dropped past its bound, the pod ends, the log has it all.
    p, uuid_file = popen_pod(pod, flavor, *sh("yes | head -c 4000000; echo done >&2"), stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
    try:
        assert p.wait(timeout=120) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
    log = logs(pod, open(uuid_file).read().strip())
    assert len(log) == 4000000 + len("done\n") and log.count("y\n") == 2000000


def test_a_reader_that_goes_away_does_not_stop_the_apps(pod, flavor):
    p, uuid_file = popen_pod(pod, flavor, *sh("echo first; sleep 1; yes | head -c 1000000; echo still here >&2"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == "first\n"
        p.stdout.close()  # like `pod run … | head -1`
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert "still here" in err
    assert len(logs(pod, open(uuid_file).read().strip())) == len("first\n") + 1000000 + len("still here\n")


@pytest.mark.skipif(not shutil.which("script"), reason="script(1) is not installed")
def test_on_a_terminal_and_with_only_stdin_a_terminal(pod, flavor, tmp_path):
    # stdout a terminal: the apps write to it themselves (attached). stdin and stderr a terminal but stdout a
    # file (`out=$(pod run …)` in an interactive shell): stdout is copied to the file, stderr to the terminal
    # (nspawn's passive console would have merged both into the file).
    out = tmp_path / "out"
    cmd = (f"{POD_BIN} --dir {pod.dir} run --insecure-options=image --stage1-path={STAGE1[flavor]} {BUSYBOX_ACI} "
           f"--exec /bin/sh -- -c")
    script = f"{cmd} 'echo on-tty'; {cmd} 'echo to-file; echo to-tty >&2' > {out}"
    r = subprocess.run(["script", "-qec", script, "/dev/null"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "on-tty" in r.stdout and "to-tty" in r.stdout
    assert out.read_text() == "to-file\n"
