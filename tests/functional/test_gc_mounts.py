"""`pod gc` and busy mounts below pods; nothing under the data dir stays mounted."""
import os
import subprocess

from conftest import needs_root


def mounts_under(path):
    path = os.path.realpath(path)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return out


def mount_tmpfs_in(pod, uuid, state_dir="exited-garbage"):
    mp = os.path.join(pod.dir, "pods", state_dir, uuid, "stage1", "rootfs")
    os.makedirs(mp)
    subprocess.run(["mount", "-t", "tmpfs", "pod-test", mp], check=True)
    os.makedirs(mp + "/opt/stage2/app/rootfs")
    subprocess.run(["mount", "-t", "tmpfs", "pod-test-app", mp + "/opt/stage2/app/rootfs"], check=True)
    return mp


@needs_root()
def test_gc_reports_busy_mount_retries_and_collects_after_release(pod):
    [busy] = pod.fixture("exited-garbage")
    others = pod.fixture("exited-garbage", count=3)
    mp = mount_tmpfs_in(pod, busy)
    for u in others:
        mount_tmpfs_in(pod, u)
    held = open(mp + "/opt/stage2/app/rootfs/held", "w")
    try:
        r = pod.run("gc", "--grace-period=0")
        assert r.returncode == 1, r.stderr
        assert f"pod {busy}: mount " in r.stderr and "is busy" in r.stderr
        assert "retried on the next run" in r.stderr
        assert pod.state_dirs()["exited-garbage"] == [busy]  # the others went
        assert sorted(l.split('"')[1] for l in r.stdout.splitlines()) == sorted(others)
        assert mounts_under(pod.dir) != []
    finally:
        held.close()
    r = pod.run("gc", "--grace-period=0", check=0)
    assert f'collected "{busy}"' in r.stdout
    assert all(v == [] for v in pod.state_dirs().values())
    assert mounts_under(pod.dir) == []


@needs_root()
def test_gc_detaches_lazily_only_after_retries_and_says_so(pod):
    [u] = pod.fixture("exited-garbage")
    mp = mount_tmpfs_in(pod, u)
    with open(mp + "/held", "w"):
        assert pod.run("gc", "--grace-period=0").returncode == 1
        assert pod.run("gc", "--grace-period=0").returncode == 1
        r = pod.run("gc", "--grace-period=0", check=0)
        assert "detached lazily" in r.stderr and mp in r.stderr
        assert f'collected "{u}"' in r.stdout
        assert mounts_under(pod.dir) == []


@needs_root()
def test_rm_with_busy_mount_fails_then_succeeds(pod):
    [u] = pod.fixture("exited")
    mp = mount_tmpfs_in(pod, u, state_dir="run")
    held = open(mp + "/held", "w")
    r = pod.run("rm", u)
    assert r.returncode == 1 and "is busy" in r.stderr
    held.close()
    pod.run("rm", u, check=0)
    assert mounts_under(pod.dir) == []
    assert all(v == [] for v in pod.state_dirs().values())
