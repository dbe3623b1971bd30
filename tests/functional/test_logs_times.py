"""pod logs --since / --until / --timestamps through the logs' time index (Documentation/pod-lifecycle.md, "Logs").

The test marked `both` also runs on the kvm flavour (qemu under TCG here: every wait is bounded).
"""
import datetime
import os
import re
import subprocess
import time

import pytest

from conftest import POD_BIN
from runhelpers import both, flavor, reap_pod, run_pod, sh, start_pod, status  # noqa: F401 (fixture)

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9})Z (.*)$")
SCRIPT = "echo a1; echo a2; sleep 1.5; echo b1; echo b2; sleep 1.5; echo c1"
BAD_TIME = ("(use RFC 3339 like 2026-01-02T15:04:05Z, a Unix time like 1767366245, or a duration before now "
            "like 10m or 1h30m)")


def index_path(pod, uuid, app="busybox"):
    return os.path.join(pod.dir, "pods", "run", uuid, "logtimes", app)


def stamped(pod, uuid, *flags):
    """[(unix seconds as float, line)] of pod logs --timestamps."""
    r = pod.run("logs", "--timestamps", *flags, uuid, check=0)
    out = []
    for line in r.stdout.splitlines():
        m = STAMP.match(line)
        assert m, f"no time stamp: {line!r}"
        t = datetime.datetime.strptime(m.group(1)[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
        out.append((t.timestamp(), m.group(2)))
    return out


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@both
def test_since_until_timestamps(pod, flavor):
    before = time.time()
    r, u = run_pod(pod, flavor, *sh(SCRIPT), timeout=180)
    after = time.time()
    assert r.returncode == 0, r.stderr
    lines = stamped(pod, u)
    assert [l for _, l in lines] == ["a1", "a2", "b1", "b2", "c1"]
    times = [t for t, _ in lines]
    assert times == sorted(times)
    slack = 5 if flavor == "kvm" else 0.5  # the guest's clock is its own
    assert before - slack <= times[0] and times[-1] <= after + slack
    assert times[2] - times[1] >= 1.2 and times[4] - times[3] >= 1.2  # the sleeps show
    t_ab = rfc3339((times[1] + times[2]) / 2)
    t_bc = (times[3] + times[4]) / 2
    assert pod.run("logs", f"--since={t_ab}", u, check=0).stdout == "b1\nb2\nc1\n"
    assert pod.run("logs", f"--since={t_ab}", f"--until={t_bc:.3f}", u, check=0).stdout == "b1\nb2\n"
    assert pod.run("logs", f"--until={t_ab}", u, check=0).stdout == "a1\na2\n"
    assert pod.run("logs", "--since=1h", u, check=0).stdout == "a1\na2\nb1\nb2\nc1\n"
    assert pod.run("logs", "--since=0", u, check=0).stdout == ""  # now: nothing later
    assert [l for _, l in stamped(pod, u, f"--since={t_ab}", "--tail=1")] == ["c1"]


def test_torn_index_restart_and_no_index(pod):
    r, u = run_pod(pod, "nspawn", *sh("echo one; sleep 0.3; echo two"))
    assert r.returncode == 0, r.stderr
    first = stamped(pod, u)
    assert [l for _, l in first] == ["one", "two"]
    with open(index_path(pod, u), "ab") as f:  # a kill -9 in the middle of a record
        f.write(b"\x01\x02\x03\x04\x05\x06\x07")
    assert stamped(pod, u) == first
    # The next run's init cuts the torn record and goes on.
    assert pod.run("restart", u, timeout=120, check=0).stdout == f'"{u}"\n'
    pod.run("status", "--wait=90s", u, check=0)
    assert os.path.getsize(index_path(pod, u)) % 16 == 0
    again = stamped(pod, u)
    assert [l for _, l in again] == ["one", "two", "one", "two"]
    assert again[:2] == first and again[2][0] >= first[1][0]
    # Without an index (a pod of an older init): nothing is timed, and that is said.
    os.unlink(index_path(pod, u))
    r = pod.run("logs", "--since=1h", u, check=0)
    assert r.stdout == ""
    assert r.stderr == ("pod: app busybox: 4 lines of its log have no recorded time (written before its time index "
                        "began, or by a pod init without one): left out\n")
    r = pod.run("logs", "--timestamps", u, check=0)
    assert r.stdout == "one\ntwo\none\ntwo\n"
    assert r.stderr.endswith("): shown without a time\n")
    assert pod.run("logs", u, check=0).stdout == "one\ntwo\none\ntwo\n"


def test_follow_since_and_until(pod):
    p, u = start_pod(pod, "nspawn", *sh("echo early; sleep 1; echo mid; sleep 2; echo late"))
    try:
        deadline = time.monotonic() + 30
        while "mid" not in pod.run("logs", u).stdout:
            assert time.monotonic() < deadline, "timed out waiting for the app's lines"
            time.sleep(0.1)
        (t_early, _), (t_mid, _) = stamped(pod, u)
        since = rfc3339((t_early + t_mid) / 2)
        f = subprocess.run([POD_BIN, "--dir", pod.dir, "logs", "--follow", f"--since={since}", u],
                           capture_output=True, text=True, timeout=30)
        assert (f.returncode, f.stdout) == (0, "mid\nlate\n")
        assert status(pod, u)["state"] == "exited"
    finally:
        reap_pod(pod, p, u)
    p, u = start_pod(pod, "nspawn", *sh("echo up; sleep 1.5; echo later; sleep 600"))
    try:
        until = time.time() + 1
        t0 = time.monotonic()
        f = subprocess.run([POD_BIN, "--dir", pod.dir, "logs", "-f", f"--until={until:.3f}", u],
                           capture_output=True, text=True, timeout=30)
        # It ended once `until` had passed, the pod still running, without the later line.
        assert (f.returncode, f.stdout) == (0, "up\n")
        assert time.monotonic() - t0 < 10
        assert status(pod, u)["state"] == "running"
    finally:
        reap_pod(pod, p, u)


@pytest.mark.parametrize("flag,value", [("--since", "yesterday"), ("--until", "2026-13-01T00:00:00Z"),
                                        ("--since", "10x"), ("--until", "-5m")])
def test_bad_times_exit_2_naming_the_flag(pod, flag, value):
    r = pod.run("logs", f"{flag}={value}", "0123")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f'pod: invalid time "{value}" for {flag} {BAD_TIME}\n'
