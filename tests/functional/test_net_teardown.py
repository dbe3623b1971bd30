"""Network teardown leaks nothing (Documentation/networking.md, "Teardown and crash safety"): pods run and
gc'ed in a loop with kill -9 of the pod, of `pod run` and of `pod gc` mixed in; the host's links, addresses,
routes, iptables rules, host-local leases and netns mounts of the test's own networks are compared before and
after (own networks and subnets: other pods on this machine may come and go meanwhile)."""
import json
import os
import signal
import subprocess
import time

import pytest

from net_helpers import free_subnet, host_traces, lease_owners, needs_net, own_ptp_net, pod_pids, ptp_net
from runhelpers import STAGE1, BUSYBOX_ACI, run_pod, sh, start_pod

pytestmark = [needs_net]
FLAVOR = "nspawn"
NOTHING = {"addrs": set(), "routes": set(), "rules": set(), "leases": set(), "netns": set()}


@pytest.fixture
def net(pod):
    """A ptp network of the test's own (masquerade and portmap, as default) on a free /24."""
    yield own_ptp_net(pod, "10.25", "leak")


def kill9_pod(p, uuid):
    """kill -9 of `pod run` (the run entrypoint) and of every process of the pod."""
    os.kill(p.pid, signal.SIGKILL)
    for pid in pod_pids(uuid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.communicate(timeout=30)


def wait_exited(pod, uuid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = json.loads(pod.run("status", "--format=json", uuid, check=0).stdout)["state"]
        if st != "running":
            return st
        time.sleep(0.1)
    raise AssertionError(f"pod {uuid} still running")


def test_loop_of_pods_with_kill9_leaves_nothing(pod, net):
    name, sub = net
    before = host_traces(sub, name, (), pod.dir)
    assert before == NOTHING
    uuids, t0 = [], time.monotonic()
    for batch in range(6):  # 30 pods: 5 per batch, fates mixed
        started = []
        for k in range(4):
            port = 30000 + (os.getpid() * 7 + batch * 5 + k) % 30000
            p, u = start_pod(pod, FLAVOR, *sh("sleep 60"), pod_flags=[f"--net={name}", f"--publish={port}:80"])
            started.append((p, u))
            uuids.append(u)
        r, u = run_pod(pod, FLAVOR, "--exec", "/bin/true", pod_flags=[f"--net={name}"], check=0)
        uuids.append(u)
        owners = set(lease_owners(name).values())
        assert u not in owners and {x for _, x in started} <= owners  # the one that exited gave its lease back
        for k, (p, u) in enumerate(started):
            if k == 0:
                kill9_pod(p, u)                      # everything, at once
            elif k == 1:
                os.kill(p.pid, signal.SIGKILL)       # only pod run: nspawn and the apps go on, holding the lock
                pod.run("stop", "--force", u, check=0, timeout=60)
                p.communicate(timeout=30)
            elif k == 2:
                pod.run("stop", u, check=0, timeout=60)  # graceful: run itself leaves the network
                p.communicate(timeout=30)
            else:
                kill9_pod(p, u)
            wait_exited(pod, u)
    during = host_traces(sub, name, uuids, pod.dir)
    assert during["netns"], "kill -9 should have left netns mounts for gc"
    r = pod.run("gc", "--grace-period=0", timeout=300, check=0)
    assert host_traces(sub, name, uuids, pod.dir) == NOTHING, r.stderr
    assert time.monotonic() - t0 < 150


def stopped_child_of(pid, timeout=60):
    """A descendant of `pid` stopped by POD_PAUSEPOINT (state T), or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] == "T" and int(fields[1]) == pid:
                return int(d)
        time.sleep(0.05)
    return None


def test_kill9_of_gc_mid_teardown_next_gc_finishes(pod, net):
    name, sub = net
    sub2 = free_subnet("10.26")
    name2 = name + "b"
    ptp_net(pod, name2, sub2, portmap=False)
    p, uuid = start_pod(pod, FLAVOR, *sh("sleep 60"), pod_flags=[f"--net={name},{name2}", "--publish=31999:80"])
    kill9_pod(p, uuid)
    wait_exited(pod, uuid)
    from conftest import POD_BIN
    env = dict(os.environ, POD_PAUSEPOINT="net:after-del")
    gc = subprocess.Popen([POD_BIN, "--dir", pod.dir, "gc", "--grace-period=0"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stage1_gc = stopped_child_of(gc.pid)
    assert stage1_gc, "the stage1 gc never reached net:after-del"
    os.kill(gc.pid, signal.SIGKILL)  # pod gc, and its stage1 gc entrypoint, mid-teardown
    os.kill(stage1_gc, signal.SIGKILL)
    gc.communicate(timeout=30)
    pdir = [os.path.join(pod.dir, "pods", d, uuid) for d in os.listdir(os.path.join(pod.dir, "pods"))
            if os.path.isdir(os.path.join(pod.dir, "pods", d, uuid))]
    assert pdir
    state = json.load(open(os.path.join(pdir[0], "net.json")))
    # DEL goes in reverse order: the second network is gone, the first not yet
    assert [(n["name"], n["state"]) for n in state["networks"]] == [(name, "added"), (name2, "deleted")]
    assert host_traces(sub2, name2, [uuid], pod.dir)["leases"] == set()
    assert host_traces(sub, name, [uuid], pod.dir)["leases"]
    pod.run("gc", "--grace-period=0", timeout=120, check=0)
    assert host_traces(sub, name, [uuid], pod.dir) == NOTHING
    assert host_traces(sub2, name2, [uuid], pod.dir) == NOTHING
    assert not os.path.exists(pdir[0])


@pytest.mark.parametrize("point", ["net:netns-created", "net:before-add"])
def test_kill9_of_run_while_joining_then_gc(pod, net, point):
    name, sub = net
    r, uuid = run_pod(pod, FLAVOR, "--exec", "/bin/true", pod_flags=[f"--net={name}"],
                      env={"POD_CRASHPOINT": point})
    assert r.returncode == -signal.SIGKILL  # pod run is the run entrypoint (exec)
    assert wait_exited(pod, uuid) == "exited"
    assert host_traces(sub, name, [uuid], pod.dir)["netns"]
    pod.run("gc", "--grace-period=0", timeout=120, check=0)
    assert host_traces(sub, name, [uuid], pod.dir) == NOTHING


def test_failed_add_is_rolled_back_and_reported(pod, net):
    name, sub = net
    # a second network whose plugin fails on ADD: the first one is left again at once
    d = os.path.join(pod.dir, "net.d")
    with open(os.path.join(d, "60-fails.conflist"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "fails", "plugins": [
            {"type": "ptp", "ipam": {"type": "host-local", "subnet": "10.27.0.0/24"}},
            {"type": "tuning", "sysctl": {"net.nosuch.key": "1"}}]}, f)
    r, uuid = run_pod(pod, FLAVOR, "--exec", "/bin/true", pod_flags=[f"--net={name},fails"])
    assert r.returncode == 125
    assert "network fails" in r.stderr and "plugin tuning ADD failed" in r.stderr
    assert "plugin tuning ADD failed" in pod.run("status", uuid, check=0).stdout
    assert host_traces(sub, name, [uuid], pod.dir) == NOTHING
    assert host_traces("10.27.0", "fails", [uuid], pod.dir) == NOTHING
