"""`pod gc` is safe at any moment: concurrently with itself and with pods being prepared, run and stopped.

Real pods on the nspawn stage1. Nothing here asserts timing: every check is about an outcome (an exit
code, a state, what is left in the store, on the mount table, in the process table and the cgroups).
"""
import collections
import fcntl
import glob
import itertools
import os
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import POD_BIN
from runhelpers import BUSYBOX_ACI, STAGE1, flavor_skip_reason, mounts_under, reap_pod, sh, start_pod, status

GC_COLLECTED = re.compile(r'^collected "([0-9a-f-]{36})"$')
# What gc may say on stderr (stage0/cmd_gc.cpp, src/pods/gc.cpp): progress, and the documented busy-mount case.
GC_PROGRESS = re.compile(r"^pod: (moving (pod|aborted pod|stale embryo pod|expired prepared pod) [0-9a-f-]{36} "
                         r"to (exited-garbage|garbage)|garbage collecting pod [0-9a-f-]{36})$")
GC_BUSY = re.compile(r"^pod: pod [0-9a-f-]{36}: (mount .* is busy .*|.* was still busy after \d+ runs; detached lazily.*)$")
GC_SUMMARY = re.compile(r"^pod: gc could not collect \d+ pod\(s\); they will be retried on the next run$")

_names = itertools.count()
_names_lock = threading.Lock()


@pytest.fixture
def nspawn():
    reason = flavor_skip_reason("nspawn")
    if reason:
        pytest.skip(reason)
    return STAGE1["nspawn"]


def uuid_file(pod):
    with _names_lock:
        return os.path.join(pod.dir, f"uuid-{next(_names)}")


def check_gc(r):
    """Asserts one gc invocation ended normally; returns the UUIDs it collected."""
    what = f"pod gc exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    assert r.returncode in (0, 1), what  # not killed by a signal, not a usage or "other" error
    collected = []
    for line in r.stdout.splitlines():
        m = GC_COLLECTED.match(line)
        assert m, f"unexpected gc output line {line!r}; " + what
        collected.append(m.group(1))
    busy = 0
    for line in r.stderr.splitlines():
        if GC_BUSY.match(line):
            busy += 1
        else:
            assert GC_PROGRESS.match(line) or GC_SUMMARY.match(line), f"gc reported {line!r}; " + what
    assert (r.returncode == 1) == (busy > 0), what  # exit 1 only for the documented busy case
    return collected


def run(pod, stage1, script, pod_flags=()):
    """`pod run` of busybox running `script`; returns (CompletedProcess, uuid)."""
    f = uuid_file(pod)
    r = pod.run("run", "--insecure-options=image", f"--stage1-path={stage1}", f"--uuid-file-save={f}", *pod_flags,
                BUSYBOX_ACI, *sh(script), timeout=120)
    return r, (open(f).read().strip() if os.path.exists(f) else None)


def prepare(pod, stage1, script):
    r = pod.run("prepare", "--quiet", "--insecure-options=image", f"--stage1-path={stage1}", BUSYBOX_ACI, *sh(script),
                timeout=120, check=0)
    return r.stdout.strip().splitlines()[-1]


def start(pod, stage1, script, pod_flags=(), app_flags=()):
    """`pod run` in the background; returns (Popen, uuid) once the pod is running with its app started."""
    assert stage1 == STAGE1["nspawn"]
    return start_pod(pod, "nspawn", *app_flags, *sh(script), pod_flags=pod_flags)


def reap(pod, p, u):
    """Cleanup after a failure: a SIGKILL of `pod run` alone would leave nspawn and the app running."""
    reap_pod(pod, p, u)


def processes_mentioning(text):
    out = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            with open(d + "/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and int(d[6:]) != os.getpid():
            out.append(f"{d[6:]}: {cmd}")
    return out


def cgroups_of(uuids):
    return [d for u in uuids for d in glob.glob(f"/sys/fs/cgroup/pod/pod-{u}") + glob.glob(f"/sys/fs/cgroup/*/pod/pod-{u}")]


def assert_store_empty(pod, uuids):
    assert all(v == [] for v in pod.state_dirs().values()), pod.state_dirs()
    assert mounts_under(pod.dir) == []
    assert processes_mentioning(pod.dir) == []
    assert cgroups_of(uuids) == []


class GcLoops:
    """`pod gc --grace-period=0` in `n` back-to-back loops, plus a `pod list` loop, until stopped."""

    def __init__(self, pod, n):
        self.pod = pod
        self.cond = threading.Condition()
        self.done = []  # (monotonic start, CompletedProcess) of every finished gc
        self.lists = []  # CompletedProcess of every `pod list`
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._gc_loop) for _ in range(n)]
        self.threads.append(threading.Thread(target=self._list_loop))

    def _gc_loop(self):
        while not self.stopping.is_set():
            t = time.monotonic()
            r = self.pod.run("gc", "--grace-period=0", timeout=120)
            with self.cond:
                self.done.append((t, r))
                self.cond.notify_all()

    def _list_loop(self):
        while not self.stopping.is_set():
            self.lists.append(self.pod.run("list", "--no-legend", "--full", timeout=120))
            time.sleep(0.05)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join()

    def wait_for_sweep_after(self, t):
        """Waits until a gc that started (so walked the store) after monotonic time `t` has finished."""
        with self.cond:
            assert self.cond.wait_for(lambda: any(s >= t for s, _ in self.done), timeout=90), "no gc finished"


def test_gc_loops_concurrent_with_runs_prepares_and_stops(pod, nspawn):
    """Three gc loops and a list loop run the whole time while two workers run, prepare+run-prepared and
    start+stop real pods. No run loses its pod, no gc fails, every pod is collected exactly once."""
    jobs = ([("run", code) for code in (0, 1, 3, 0, 7, 42, 0, 2, 5, 0, 9, 0)] + [("run-killed", 137)] +
            [("prepared", code) for code in (0, 4, 6)] + [("long", 143)] * 3)
    # interleave the kinds so that every kind overlaps the others
    jobs = [j for group in itertools.zip_longest(jobs[0:7], jobs[7:13], jobs[13:]) for j in group if j]
    uuids, lock = [], threading.Lock()
    started = []  # Popen of long-running pods, for cleanup

    def job(kind, code):
        if kind in ("run", "run-killed"):
            r, u = run(pod, nspawn, f"exit {code}" if kind == "run" else "kill -9 $$")
            with lock:
                uuids.append(u)
            assert u is not None, r.stderr
            assert r.returncode == code, f"pod run of `exit {code}` exited {r.returncode}:\n{r.stderr}"
        elif kind == "prepared":
            u = prepare(pod, nspawn, f"exit {code}")
            with lock:
                uuids.append(u)
            t = time.monotonic()
            loops.wait_for_sweep_after(t)  # a whole gc sweep saw it prepared ...
            assert status(pod, u)["state"] == "prepared"  # ... and left it alone
            r = pod.run("run-prepared", u, timeout=120)
            assert r.returncode == code, f"run-prepared of `exit {code}` exited {r.returncode}:\n{r.stderr}"
        else:
            p, u = start(pod, nspawn, "sleep 600")
            with lock:
                uuids.append(u)
                started.append((p, u))
            t = time.monotonic()
            loops.wait_for_sweep_after(t)  # a whole gc sweep saw it running ...
            st = status(pod, u)
            assert st["state"] == "running" and p.poll() is None, st  # ... and left it alone
            r = pod.run("stop", u, timeout=90)
            assert r.returncode == 0 and f'"{u}"' in r.stdout, r.stderr
            p.wait(timeout=60)
            assert p.returncode == code, f"stopped pod run exited {p.returncode}:\n{p.stderr.read()}"

    try:
        with GcLoops(pod, 3) as loops, ThreadPoolExecutor(max_workers=2) as workers:
            for f in [workers.submit(job, *j) for j in jobs]:
                f.result()
    finally:
        for p, u in started:
            reap(pod, p, u)

    assert len(loops.done) >= 3, "the gc loops did not run"
    collected = [u for _, r in loops.done for u in check_gc(r)]
    for r in loops.lists:
        assert r.returncode == 0, f"pod list exited {r.returncode}:\n{r.stderr}"
    final = pod.run("gc", "--grace-period=0", timeout=120)
    collected += check_gc(final)
    assert final.returncode == 0, final.stderr
    counts = collections.Counter(collected)
    assert [u for u, n in counts.items() if n > 1] == [], "a pod was collected twice"
    assert sorted(counts) == sorted(uuids)  # every pod we made, and nothing else, was collected exactly once
    for u in uuids[:3]:
        assert pod.run("status", u).returncode == 3
    assert_store_empty(pod, uuids)


def test_gc_right_after_the_app_exits_collects_the_pod(pod, nspawn):
    """gc --grace-period=0 the moment `pod run` (or run-prepared, or `pod stop`) returns collects that pod."""
    made = []

    def gc_collects(u):
        r = pod.run("gc", "--grace-period=0", timeout=120)
        assert check_gc(r) == [u] and r.returncode == 0, r.stderr
        assert pod.run("status", u).returncode == 3
        assert all(v == [] for v in pod.state_dirs().values()), pod.state_dirs()

    for code in (0, 3, 0, 9):
        r, u = run(pod, nspawn, f"exit {code}")
        assert r.returncode == code, r.stderr
        made.append(u)
        gc_collects(u)

    u = prepare(pod, nspawn, "exit 5")
    made.append(u)
    r = pod.run("gc", "--grace-period=0", timeout=120)  # a prepared pod is not garbage
    assert check_gc(r) == [] and status(pod, u)["state"] == "prepared"
    assert pod.run("run-prepared", u, timeout=120).returncode == 5
    gc_collects(u)

    p, u = start(pod, nspawn, "sleep 600")
    made.append(u)
    try:
        r = pod.run("gc", "--grace-period=0", timeout=120)  # a running pod is not garbage
        assert check_gc(r) == [] and status(pod, u)["state"] == "running"
        assert pod.run("stop", u, timeout=90).returncode == 0
        gc_collects(u)  # `pod stop` returned: the pod has exited, `pod run` may not even be reaped yet
        assert p.wait(timeout=60) == 143
    finally:
        reap(pod, p, u)
    assert_store_empty(pod, made)


def test_status_wait_then_rm_never_races(pod, nspawn, tmp_path):
    """`pod status --wait` on a running pod returns once it has exited; `pod rm` right after always succeeds."""
    made = []
    for i in range(4):
        ctl = tmp_path / f"ctl{i}"
        ctl.mkdir()
        p, u = start(pod, nspawn, "while [ ! -e /ctl/go ]; do usleep 20000; done; exit 7",
                     pod_flags=[f"--volume=ctl,kind=host,source={ctl}"], app_flags=["--mount", "volume=ctl,target=/ctl"])
        made.append(u)
        try:
            assert status(pod, u)["state"] == "running"
            w = subprocess.Popen([POD_BIN, "--dir", pod.dir, "status", "--wait", u], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            time.sleep(0.1)
            assert w.poll() is None, "status --wait returned while the pod was running: " + w.communicate()[0]
            (ctl / "go").touch()
            out, err = w.communicate(timeout=60)
            assert w.returncode == 0, err
            st = dict(l.split("=", 1) for l in out.splitlines() if "=" in l)
            assert st["state"] == "exited" and st["app-busybox"] == "7", out
            r = pod.run("rm", u, timeout=120)  # at once, `pod run` possibly not reaped yet
            assert r.returncode == 0 and r.stdout.strip() == f'"{u}"', r.stderr
            assert pod.run("status", u).returncode == 3
            assert p.wait(timeout=60) == 7
        finally:
            reap(pod, p, u)
    assert_store_empty(pod, made)


def test_gc_leaves_a_prepared_pod_alone_while_its_transition_is_under_way(pod, nspawn):
    """A locked prepared pod is moving: `pod prepare` holds the lock from its rename to prepared/ (and the fsyncs
    after it) until its unlock, `run-prepared` from its LOCK_EX until its rename to run/. Even a gc that would
    expire it (--expire-prepared=0) must skip it like a live embryo, without reporting a failure (cron runs
    would mail an error whenever a run-prepared coincides), and collect it once the lock is free."""
    u = prepare(pod, nspawn, "exit 0")
    fd = os.open(os.path.join(pod.dir, "pods", "prepared", u), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # what run-prepared holds between its lock and its rename to run/
        r = pod.run("gc", "--grace-period=0", "--expire-prepared=0", timeout=120)
        assert check_gc(r) == [] and r.returncode == 0, r.stderr
        assert pod.state_dirs()["prepared"] == [u]
    finally:
        os.close(fd)
    r = pod.run("gc", "--grace-period=0", "--expire-prepared=0", timeout=120)
    assert check_gc(r) == [u] and r.returncode == 0, r.stderr
    assert_store_empty(pod, [u])
