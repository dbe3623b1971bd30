"""pod kill / pause / resume / stats / logs --follow on running pods (Documentation/cli.md).

The bodies marked `both` also run on the kvm flavour (qemu under TCG here: every wait is bounded).
"""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import POD_BIN
from runhelpers import BUSYBOX_ACI, both, flavor, sh, start_pod, status  # noqa: F401 (fixture)
from runhelpers import reap_pod, run_pod as run_pod_helper

COUNTER = "i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done"


def log_path(pod, uuid, app="busybox"):
    return os.path.join(pod.dir, "pods", "run", uuid, "logs", app + ".log")


def last_count(pod, uuid):
    with open(log_path(pod, uuid)) as f:
        lines = f.read().split()
    return int(lines[-1]) if lines else 0


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def finish(pod, p, uuid):
    reap_pod(pod, p, uuid, timeout=60)


@both
def test_kill_delivers_the_signal_through_the_init(pod, flavor):
    p, u = start_pod(pod, flavor, *sh('trap "echo got USR1; exit 7" USR1; ' + COUNTER))
    try:
        wait_for(lambda: last_count(pod, u) > 0, 60, "the app's first line")
        r = pod.run("kill", "--signal=USR1", u, timeout=90, check=0)
        assert r.stdout == "busybox: signalled\n"
        assert p.wait(timeout=60) == 7
        st = status(pod, u)
        assert st["state"] == "exited" and st["app-busybox"] == "7"
        with open(log_path(pod, u)) as f:
            assert "got USR1" in f.read()
        # The pod is gone: a conflict (4), not a silent success.
        r = pod.run("kill", u)
        assert r.returncode == 4 and "it is exited" in r.stderr
    finally:
        finish(pod, p, u)


def test_kill_one_app_of_two_and_errors(pod, flavor):
    p, u = start_pod(pod, flavor, "--name", "a", *sh("sleep 600"), "---", BUSYBOX_ACI, "--name", "b",
                     *sh("sleep 600"))
    try:
        r = pod.run("kill", "--signal=KILL", "--app=a", "--format=json", u, check=0)
        assert json.loads(r.stdout) == {"a": {"ok": True, "message": "signalled"}}
        wait_for(lambda: status(pod, u).get("app-a") == str(128 + signal.SIGKILL), 30, "app a's exit record")
        st = status(pod, u)
        assert st["state"] == "running" and "app-b" not in st
        # a has exited: it is reported per app and the exit status says so.
        r = pod.run("kill", "--signal=TERM", u)
        assert r.returncode == 1
        assert r.stdout == "b: signalled\n" and r.stderr == "a: not running\n"
        assert p.wait(timeout=60) == 128 + signal.SIGKILL  # the first app (a) failed first in manifest order
        assert status(pod, u)["app-b"] == str(128 + signal.SIGTERM)
    finally:
        finish(pod, p, u)
    r = pod.run("kill", "--app=nope", u)
    assert r.returncode == 4


def test_kill_usage_errors(pod):
    r = pod.run("kill", "--signal=NOPE", "00000000")
    assert r.returncode == 2 and "unknown signal" in r.stderr
    r = pod.run("kill", "--signal=99", "00000000")
    assert r.returncode == 2
    r = pod.run("kill", "00000000")
    assert r.returncode == 3


def paused_progress(pod, u, seconds):
    """The counter app's progress over `seconds`."""
    a = last_count(pod, u)
    time.sleep(seconds)
    return last_count(pod, u) - a


@both
def test_pause_stops_progress_resume_continues_and_stop_while_paused(pod, flavor):
    p, u = start_pod(pod, flavor, *sh(COUNTER))
    try:
        wait_for(lambda: last_count(pod, u) > 2, 60, "the counter")
        r = pod.run("pause", u, timeout=60, check=0)
        assert r.stdout == f'"{u}"\n'
        assert status(pod, u)["state"] == "paused"
        st = json.loads(pod.run("status", "--format=json", u, check=0).stdout)
        assert st["state"] == "paused" and st["paused"] is True
        assert f"{u[:8]}  busybox  example.com/busybox:1.35.0  paused" in pod.run("list", check=0).stdout
        assert json.loads(pod.run("list", "--format=json", check=0).stdout)[0]["state"] == "paused"
        assert paused_progress(pod, u, 1.5) == 0
        r = pod.run("pause", u, check=0)  # again: said, not an error
        assert "already paused" in r.stderr
        pod.run("resume", u, timeout=60, check=0)
        assert status(pod, u)["state"] == "running"
        wait_for(lambda: paused_progress(pod, u, 0.5) > 0, 30, "the counter to go on")
        assert "is not paused" in pod.run("resume", u, check=0).stderr
        # Paused pods stop (thawed first) and are collected.
        pod.run("pause", u, timeout=60, check=0)
        pod.run("stop", u, timeout=90, check=0)
        assert p.wait(timeout=60) == 128 + signal.SIGTERM
        assert status(pod, u)["state"] == "exited"
        pod.run("gc", "--grace-period=0", check=0)
        assert pod.run("status", u).returncode == 3
    finally:
        finish(pod, p, u)


def test_pause_with_the_v1_freezer(pod):
    """The v1 freezer path on this hybrid host (POD_STAGE1_FREEZER=v1 reaches the entrypoint)."""
    if not os.path.isdir("/sys/fs/cgroup/freezer"):
        pytest.skip("no cgroup v1 freezer hierarchy on this host")
    p, u = start_pod(pod, "nspawn", *sh(COUNTER))
    try:
        wait_for(lambda: last_count(pod, u) > 2, 30, "the counter")
        pod.run("pause", u, env={"POD_STAGE1_FREEZER": "v1"}, check=0)
        with open(f"/sys/fs/cgroup/freezer/pod/pod-{u}/freezer.state") as f:
            assert f.read().strip() == "FROZEN"
        assert paused_progress(pod, u, 1.0) == 0
        pod.run("resume", u, env={"POD_STAGE1_FREEZER": "v1"}, check=0)
        with open(f"/sys/fs/cgroup/freezer/pod/pod-{u}/freezer.state") as f:
            assert f.read().strip() == "THAWED"
        wait_for(lambda: paused_progress(pod, u, 0.5) > 0, 30, "the counter to go on")
    finally:
        finish(pod, p, u)
    pod.run("gc", "--grace-period=0", check=0)
    assert not os.path.exists(f"/sys/fs/cgroup/freezer/pod/pod-{u}")


def test_stale_paused_marker_is_harmless(pod):
    """A kill -9 of `pod pause` after its marker, before the freeze: shown paused, resume and stop repair it."""
    p, u = start_pod(pod, "nspawn", *sh(COUNTER))
    try:
        open(os.path.join(pod.dir, "pods", "run", u, "paused"), "w").close()
        assert status(pod, u)["state"] == "paused"
        pod.run("resume", u, check=0)
        assert status(pod, u)["state"] == "running"
        open(os.path.join(pod.dir, "pods", "run", u, "paused"), "w").close()
        pod.run("stop", u, timeout=60, check=0)
        p.wait(timeout=60)
        assert status(pod, u)["state"] == "exited"  # the marker means nothing once the pod is over
    finally:
        finish(pod, p, u)


def test_pause_refuses_pods_that_do_not_run(pod):
    u = pod.run("prepare", "--insecure-options=image", BUSYBOX_ACI, check=0).stdout.strip().strip('"')
    for verb in ("pause", "resume", "stats", "kill"):
        r = pod.run(verb, u)
        assert r.returncode == 4 and "it is prepared" in r.stderr, (verb, r.stderr)


@both
def test_stats_per_app(pod, flavor):
    p, u = start_pod(pod, flavor, *sh("while true; do :; done"))
    try:
        s = json.loads(pod.run("stats", "--format=json", u, timeout=60, check=0).stdout)
        assert s["uuid"] == u and s["paused"] is False
        (a,) = s["apps"]
        assert a["name"] == "busybox" and a["running"] is True
        assert a["pids"] >= 1 and a["memoryBytes"] > 0
        # A busy loop: CPU time grows (counted in 10 ms ticks: two quick reads may fall in one; bounded wait).
        for _ in range(50):
            s2 = json.loads(pod.run("stats", "--format=json", u, timeout=60, check=0).stdout)
            if s2["apps"][0]["cpuNs"] > a["cpuNs"]:
                break
            time.sleep(0.05)
        assert s2["apps"][0]["cpuNs"] > a["cpuNs"]
        assert s["pod"]["source"] == ("vmm" if flavor == "kvm" else "cgroup")
        assert s["pod"]["cpuNs"] > 0
        text = pod.run("stats", u, timeout=60, check=0).stdout
        assert text.startswith("pod cpu_ns=") and "\napp busybox running cpu_ns=" in text
    finally:
        finish(pod, p, u)


def test_logs_tail_and_follow(pod):
    script = "for i in 1 2 3 4 5; do echo line$i; done; sleep 2; echo late; echo -n partial"
    p, u = start_pod(pod, "nspawn", *sh(script))
    try:
        wait_for(lambda: "line5" in pod.run("logs", u).stdout, 30, "the first lines")
        assert pod.run("logs", "--tail", "2", u, check=0).stdout == "line4\nline5\n"
        f = subprocess.run([POD_BIN, "--dir", pod.dir, "logs", "--follow", "--tail=1", u],
                           capture_output=True, text=True, timeout=30)
        assert f.returncode == 0
        # It returned only once the pod had exited, with everything after the tail.
        assert f.stdout == "line5\nlate\npartial"
        assert status(pod, u)["state"] == "exited"
    finally:
        finish(pod, p, u)
    assert pod.run("logs", "--app=nope", u).returncode == 2


def test_logs_follow_several_apps_prefixes_lines(pod):
    p, u = start_pod(pod, "nspawn", "--name", "a", *sh("sleep 1; echo from-a"), "---", BUSYBOX_ACI,
                     "--name", "b", *sh("echo from-b; sleep 1.5"))
    try:
        f = subprocess.run([POD_BIN, "--dir", pod.dir, "logs", "-f", u], capture_output=True, text=True, timeout=30)
        assert sorted(f.stdout.splitlines()) == ["a: from-a", "b: from-b"]
    finally:
        finish(pod, p, u)


@both
def test_restart_keeps_trees_resets_exit_codes(pod, flavor):
    script = 'echo run >> /state; echo "runs=$(wc -l < /state)"; [ "$(wc -l < /state)" = 2 ] && exit 0; exit 3'
    r, u = run_pod_helper(pod, flavor, *sh(script))
    assert r.returncode == 3
    first = status(pod, u)
    assert first["app-busybox"] == "3"
    r = pod.run("restart", u, timeout=120, check=0)
    assert r.stdout == f'"{u}"\n'
    pod.run("status", "--wait=90s", u, check=0)
    st = status(pod, u)
    # The second run saw the first one's change of its tree and exited 0: the record is the new run's.
    assert st["state"] == "exited" and st["app-busybox"] == "0"
    assert st["started"] != first["started"] and st["created"] == first["created"]
    assert pod.run("logs", u, check=0).stdout == "runs=1\nruns=2\n"  # logs are appended to


def test_restart_a_running_pod(pod):
    p, u = start_pod(pod, "nspawn", *sh("echo up; sleep 600"))
    try:
        pid = status(pod, u)["pid"]
        r = pod.run("restart", u, timeout=60, check=0)
        assert p.wait(timeout=30) == 128 + signal.SIGTERM  # the first run ended as a stop ends it
        st = status(pod, u)
        assert st["state"] == "running" and st["pid"] != pid and "app-busybox" not in st
        assert r.stdout == f'"{u}"\n'
        pod.run("pause", u, check=0)
        pod.run("restart", u, timeout=60, check=0)  # a paused one too: thawed, stopped, started
        assert status(pod, u)["state"] == "running"
        pod.run("stop", u, timeout=60, check=0)
        assert status(pod, u)["app-busybox"] == str(128 + signal.SIGTERM)
    finally:
        finish(pod, p, u)


def test_restart_refuses_other_states(pod):
    u = pod.run("prepare", "--insecure-options=image", BUSYBOX_ACI, check=0).stdout.strip().strip('"')
    r = pod.run("restart", u)
    assert r.returncode == 4 and "run-prepared" in r.stderr


@pytest.mark.parametrize("point", ["restart:locked", "restart:after-reset"])
def test_restart_killed_midway_leaves_an_exited_pod_for_gc(pod, point):
    r, u = run_pod_helper(pod, "nspawn", *sh("exit 3"))
    r = pod.run("restart", u, env={"POD_CRASHPOINT": point}, timeout=60)
    # The crash point SIGKILLs the restarted run; restart reports it as a stage1 failure.
    assert r.returncode == 125 and "did not start again (status 137)" in r.stderr, r.stderr
    st = status(pod, u)
    assert st["state"] == "exited"
    assert st.get("app-busybox") == ("3" if point == "restart:locked" else None)
    pod.run("gc", "--grace-period=0", check=0)
    assert pod.run("status", u).returncode == 3
