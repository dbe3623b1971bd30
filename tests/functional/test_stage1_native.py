"""The native stage1 through `pod`: its own namespaces, and nothing left after kill -9 and gc."""
import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest

from runhelpers import BUSYBOX_ACI, flavor_skip_reason, run_pod, start_pod
from stage1_helpers import mounts_below, wait_for

pytestmark = pytest.mark.skipif(flavor_skip_reason("native") is not None, reason=str(flavor_skip_reason("native")))

NAMESPACES = ("pid", "mnt", "uts", "ipc", "cgroup")


def ns_of(pid, name):
    return os.readlink(f"/proc/{pid}/ns/{name}")


def running_pod(pod, *pod_flags, script="exec sleep 60"):
    proc, uuid = start_pod(pod, "native", "--exec", "/bin/sh", "--", "-c", script, pod_flags=pod_flags)
    wait_for(lambda: pod.run("status", uuid).stdout.find("state=running") >= 0 and
             os.path.exists(pod_file(pod, uuid, "pid")), what="pod running")
    return proc, uuid, int(open(pod_file(pod, uuid, "pid")).read())


def pod_file(pod, uuid, *names):
    return os.path.join(pod.dir, "pods", "run", uuid, *names)


def cgroups_of(uuid):
    return [d for d in (f"/sys/fs/cgroup/unified/pod/pod-{uuid}", f"/sys/fs/cgroup/pod/pod-{uuid}",
                        f"/sys/fs/cgroup/systemd/pod/pod-{uuid}") if os.path.isdir(d)]


@pytest.mark.parametrize("net,own_net", [("host", False), ("none", True)])
def test_pod_has_its_own_namespaces(pod, net, own_net):
    proc, uuid, init = running_pod(pod, f"--net={net}")
    try:
        for name in NAMESPACES:
            assert ns_of(init, name) != ns_of(os.getpid(), name), f"{name} namespace is the host's"
        assert (ns_of(init, "net") != ns_of(os.getpid(), "net")) == own_net
        # The init is PID 1 of its pid namespace and the app its child there.
        status = open(f"/proc/{init}/status").read()
        assert "\nNSpid:\t%d\t1\n" % init in status, status
        r = pod.run("enter", uuid, "/bin/sh", "-c", "echo $PPID; cat /proc/self/cgroup | grep '^0::'; hostname")
        assert r.returncode == 0, r.stderr
        ppid, cgroup, host = r.stdout.split("\n")[:3]
        assert cgroup == "0::/", "the cgroup namespace is rooted at the pod's cgroup"
        assert host == f"pod-{uuid[:8]}", host
        if own_net:
            r = pod.run("enter", uuid, "/bin/sh", "-c", "ls /sys/class/net")
            assert r.stdout.split() == ["lo"], r.stdout
    finally:
        assert pod.run("stop", uuid).returncode == 0
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM


@pytest.mark.parametrize("victim", ["run", "init"])
def test_kill_9_then_gc_leaves_nothing(pod, victim):
    proc, uuid, init = running_pod(pod)
    app_pid = int(subprocess.run(["pgrep", "-P", str(init)], capture_output=True, text=True).stdout.split()[0])
    os.kill(proc.pid if victim == "run" else init, signal.SIGKILL)
    proc.wait(timeout=30)
    if victim == "run":
        # The init holds the pod lock itself: the pod keeps running without its supervisor.
        time.sleep(0.3)
        assert "state=running" in pod.run("status", uuid).stdout
        assert pod.run("stop", "--force", uuid).returncode == 0
    wait_for(lambda: "state=exited" in pod.run("status", uuid).stdout, what="pod exited")
    r = pod.run("gc", "--grace-period=0")
    assert r.returncode == 0, r.stderr
    assert uuid not in pod.run("list", "--no-legend").stdout
    for pid in (init, app_pid):
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), what=f"pid {pid} gone")
    assert cgroups_of(uuid) == []
    assert mounts_below(pod.dir) == []
    assert not os.path.exists(pod_file(pod, uuid))


def test_stage1_flavor_name_selects_it(pod):
    r = pod.run("run", "--insecure-options=image", "--stage1-flavor=native", "--uuid-file-save=" + pod.dir + "/u",
                BUSYBOX_ACI, "--exec", "/bin/sh", "--", "-c", "exit 4")
    assert r.returncode == 4, r.stderr
    st = json.loads(pod.run("status", "--format=json", open(pod.dir + "/u").read().strip(), check=0).stdout)
    assert st["flavor"] == "native" and st["apps"][0]["exitCode"] == 4


@pytest.mark.skipif(not os.path.exists("/usr/lib/cni/ptp"), reason="the CNI plugins are not installed")
def test_cni_default_network_and_published_port(pod):
    # The pod joins the netns the run loop made and configured ($P/netns), as the nspawn flavour does.
    r, uuid = run_pod(pod, "native", "--exec", "/bin/sh", "--", "-c", "ip -o -4 addr; ip route")
    assert r.returncode == 0, r.stderr
    assert "127.0.0.1/8" in r.stdout and "inet 172.16.28." in r.stdout and "default via 172.16.28.1" in r.stdout
    rt = json.load(open(os.path.join(pod.dir, "pods", "run", uuid, "runtime.json")))
    assert rt["net"] == "default" and not os.path.exists(pod_file(pod, uuid, "netns"))
    port = 20000 + (os.getpid() + 7) % 20000
    proc, uuid = start_pod(pod, "native", "--exec", "/bin/sh", "--", "-c",
                           "echo native-pod > /tmp/i.html; exec httpd -f -p 80 -h /tmp",
                           pod_flags=[f"--publish=127.0.0.1:{port}:80/tcp"])
    try:
        wait_for(lambda: os.path.exists(pod_file(pod, uuid, "ready")), what="pod ready")
        body = None
        for _ in range(50):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/i.html", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert body == "native-pod\n"
    finally:
        assert pod.run("stop", uuid).returncode == 0
        proc.wait(timeout=30)


def cgroup_mounts():
    out = {}
    for line in open("/proc/self/mounts"):
        f = line.split()
        if f[2] in ("cgroup", "cgroup2") and f[1].startswith("/sys/fs/cgroup"):
            out.setdefault(f[1], f[2])
    return out


def test_cgroup_record_is_what_pause_stats_and_gc_use(pod):
    """Outside a service unit: the record names pod/pod-<uuid> in every hierarchy (stage1-native.md "cgroups");
    a record naming a foreign cgroup is refused; without a record the same defaults are used."""
    proc, uuid, init = running_pod(pod)
    record = pod_file(pod, uuid, "stage1-state", "cgroups")
    try:
        mounts = cgroup_mounts()
        assert json.load(open(record)) == {"cgroups": {m: f"{m}/pod/pod-{uuid}" for m in mounts}}
        v2 = [m for m, t in mounts.items() if t == "cgroup2"][0]
        assert f"0::/pod/pod-{uuid}\n" in open(f"/proc/{init}/cgroup").read()
        good = open(record).read()
        with open(record, "w") as f:
            json.dump({"cgroups": {v2: v2}}, f)  # the whole hierarchy: gc would kill everything in it
        r = pod.run("pause", uuid)
        assert r.returncode == 1, r.stderr
        assert f'$P/stage1-state/cgroups: "{v2}" must name a dir {v2}/…/pod-{uuid}' in r.stderr, r.stderr
        with open(record, "w") as f:
            f.write(good)
        assert pod.run("resume", uuid, check=0).returncode == 0  # stage0's paused mark goes
        assert open(f"{v2}/pod/pod-{uuid}/cgroup.freeze").read() == "0\n"
        assert pod.run("pause", uuid, check=0).returncode == 0
        assert open(f"{v2}/pod/pod-{uuid}/cgroup.freeze").read() == "1\n"
        assert pod.run("resume", uuid, check=0).returncode == 0
        # A pod without a record (an older pod's): the defaults.
        os.unlink(record)
        assert pod.run("pause", uuid, check=0).returncode == 0
        assert open(f"{v2}/pod/pod-{uuid}/cgroup.freeze").read() == "1\n"
        assert pod.run("resume", uuid, check=0).returncode == 0
        stats = json.loads(pod.run("stats", "--format=json", uuid, timeout=60).stdout)
        assert stats["pod"]["source"] == "cgroup" and stats["pod"]["pids"] == 2, stats
    finally:
        assert pod.run("stop", uuid).returncode == 0
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert pod.run("gc", "--grace-period=0").returncode == 0
    assert cgroups_of(uuid) == []
