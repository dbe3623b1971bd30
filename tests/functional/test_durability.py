"""What pod fsyncs, traced with strace: exactly what Documentation/pod-lifecycle.md "Durability" says.

Moves into and out of prepared/ are durable, in the right order (before stage1 starts, before a removal
starts); nothing else that moves or removes pods is fsynced.
"""
import os
import re
import shutil
import subprocess

import pytest

from conftest import POD_BIN
from runhelpers import BUSYBOX_ACI, STAGE1, flavor_skip_reason

pytestmark = [
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed"),
    pytest.mark.skipif(flavor_skip_reason("nspawn") is not None, reason=str(flavor_skip_reason("nspawn"))),
]

SYSCALLS = "fsync,fdatasync,syncfs,rename,renameat,renameat2,execve,unlinkat"
LINE = re.compile(r"^\d+\s+(\w+)\((.*)\)\s+= (-?\d+)")


def traced(pod, tmp_path, *args):
    """Runs pod with strace -f -y; returns [(syscall, args)] of the calls that succeeded."""
    log = str(tmp_path / f"strace-{len(os.listdir(tmp_path))}.log")
    r = subprocess.run(["strace", "-f", "-qq", "-y", "-e", f"trace={SYSCALLS}", "-o", log, POD_BIN, "--dir", pod.dir,
                        *args], capture_output=True, text=True, timeout=120)
    if "ptrace" in r.stderr:
        pytest.skip(f"strace cannot trace here: {r.stderr}")
    assert r.returncode == 0, r.stderr
    calls = []
    for line in open(log):
        m = LINE.match(line)
        if m and m.group(3) != "-1":
            calls.append((m.group(1), m.group(2)))
    return calls


def syncs(calls, pods):
    """The fsyncs of state dirs (as 'fsync prepared') and every syncfs."""
    out = []
    for name, args in calls:
        if name == "syncfs":
            out.append("syncfs")
        elif name in ("fsync", "fdatasync"):
            m = re.match(r"\d+<(.*)>", args)
            if m and m.group(1).startswith(pods + "/"):
                out.append(f"{name} {m.group(1)[len(pods) + 1:]}")
    return out


def index(calls, pred):
    return next(i for i, c in enumerate(calls) if pred(*c))


def first_state_dir_fsync(calls, pods):
    return index(calls, lambda n, a: n == "fsync" and a.split(">")[0].split("<")[-1].startswith(pods + "/"))


def prepare(pod, tmp_path):
    uf = tmp_path / f"uuid-{len(os.listdir(tmp_path))}"
    pod.run("prepare", "--insecure-options=image", f"--stage1-path={STAGE1['nspawn']}", f"--uuid-file-save={uf}",
            BUSYBOX_ACI, "--exec", "/bin/true", check=0)
    return uf.read_text().strip()


def test_prepare_and_run_prepared_are_durable_before_stage1_starts(pod, tmp_path):
    pods = os.path.join(pod.dir, "pods")
    prepare(pod, tmp_path)  # the images go into the store (their own fsyncs, images.md)
    calls = traced(pod, tmp_path, "prepare", "--insecure-options=image", f"--stage1-path={STAGE1['nspawn']}",
                   f"--uuid-file-save={tmp_path / 'u'}", BUSYBOX_ACI, "--exec", "/bin/true")
    u = (tmp_path / "u").read_text().strip()
    # prepared-at, then syncfs of everything prepare wrote, then the rename and both state dirs.
    assert syncs(calls, pods) == ["syncfs", "fsync prepared", "fsync prepare"]
    at = index(calls, lambda n, a: n == "renameat" and a.endswith('"prepared-at"'))
    sync = index(calls, lambda n, a: n == "syncfs")
    move = index(calls, lambda n, a: n.startswith("rename") and f"{pods}/prepared>, \"{u}\"" in a)
    assert at < sync < move < first_state_dir_fsync(calls, pods)

    calls = traced(pod, tmp_path, "run-prepared", u)
    assert syncs(calls, pods) == ["fsync run", "fsync prepared"]
    move = index(calls, lambda n, a: n.startswith("rename") and f"{pods}/run>, \"{u}\"" in a)
    first_fsync = first_state_dir_fsync(calls, pods)
    stage1 = index(calls, lambda n, a: n == "execve" and "/stage1/rootfs/" in a)
    assert move < first_fsync < stage1


def test_pod_run_and_gc_of_exited_pods_sync_nothing(pod, tmp_path):
    pods = os.path.join(pod.dir, "pods")
    prepare(pod, tmp_path)
    calls = traced(pod, tmp_path, "run", "--insecure-options=image", f"--stage1-path={STAGE1['nspawn']}",
                   BUSYBOX_ACI, "--exec", "/bin/true")
    assert syncs(calls, pods) == []
    calls = traced(pod, tmp_path, "gc", "--grace-period=0", "--expire-prepared=24h")  # marks and deletes it
    assert any(n == "unlinkat" and f"{pods}/garbage/" in a for n, a in calls)
    assert syncs(calls, pods) == []


@pytest.mark.parametrize("how", [["rm"], ["gc", "--expire-prepared=0"]])
def test_removing_a_prepared_pod_leaves_prepared_for_good_before_deleting(pod, tmp_path, how):
    pods = os.path.join(pod.dir, "pods")
    u = prepare(pod, tmp_path)
    calls = traced(pod, tmp_path, *how, *([u] if how == ["rm"] else []))
    assert syncs(calls, pods) == ["fsync garbage", "fsync prepared"]
    move = index(calls, lambda n, a: n.startswith("rename") and f"{pods}/garbage>, \"{u}\"" in a)
    first_fsync = first_state_dir_fsync(calls, pods)
    first_unlink = index(calls, lambda n, a: n == "unlinkat" and f"{pods}/garbage/{u}" in a)
    assert move < first_fsync < first_unlink
    assert pod.state_dirs()["garbage"] == [] and pod.state_dirs()["prepared"] == []
