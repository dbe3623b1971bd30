"""Helpers for the CNI networking tests (test_net_*.py): skip reasons, user conflists, what a pod leaves on
the host (links, addresses, routes, iptables rules, host-local leases, netns mounts)."""
import json
import os
import random
import shutil
import subprocess
import time
import urllib.request

import pytest

from runhelpers import flavor_skip_reason

CNI_DIR = "/usr/lib/cni"
LEASES = "/var/lib/cni/networks"


def net_skip_reason():
    reason = flavor_skip_reason("nspawn")
    if reason:
        return reason
    for p in ("ptp", "bridge", "host-local", "portmap", "loopback"):
        if not os.access(os.path.join(CNI_DIR, p), os.X_OK):
            return f"CNI plugin {p} is not installed in {CNI_DIR} (containernetworking-plugins)"
    for t in ("iptables", "iptables-save", "ip"):
        if not shutil.which(t):
            return f"{t} is not installed"
    return None


needs_net = pytest.mark.skipif(net_skip_reason() is not None, reason=net_skip_reason() or "")


def free_subnet(prefix="10.23"):
    """A /24 in 10.23.0.0/16 that no address of this host is in."""
    used = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    for _ in range(100):
        n = random.randint(1, 254)
        if f"{prefix}.{n}." not in used:
            return f"{prefix}.{n}"
    raise AssertionError("no free /24 in " + prefix)


def write_conflist(pod, name, plugins, version="1.0.0", filename=None):
    d = os.path.join(pod.dir, "net.d")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, filename or f"50-{name}.conflist")
    with open(path, "w") as f:
        json.dump({"cniVersion": version, "name": name, "plugins": plugins}, f)
    return path


def ptp_net(pod, name, subnet24, masq=True, portmap=True):
    plugins = [{"type": "ptp", "ipMasq": masq,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet24 + ".0/24"}]],
                         "routes": [{"dst": "0.0.0.0/0"}]}}]
    if portmap:
        plugins.append({"type": "portmap", "capabilities": {"portMappings": True}})
    return write_conflist(pod, name, plugins)


def own_ptp_net(pod, prefix, tag):
    """A ptp network of the test's own (masquerade and portmap, as default) on a free /24 of prefix:
    (name, subnet24)."""
    sub = free_subnet(prefix)
    name = f"{tag}{os.getpid()}-{random.randint(0, 1 << 30)}"
    ptp_net(pod, name, sub)
    return name, sub


def fetch(url, timeout=15):
    """GET url, retrying while the pod's server is not listening yet ("ready" is: the app was started)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return urllib.request.urlopen(url, timeout=5).read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def pod_networks(pod, uuid):
    return json.loads(pod.run("status", "--format=json", uuid, check=0).stdout)["networks"]


def pod_ip(pod, uuid, network=None):
    for n in pod_networks(pod, uuid):
        if network is None or n["name"] == network:
            return n["ips"][0].split("/")[0]
    raise AssertionError(f"pod {uuid} has no address on {network}")


def lease_owners(network):
    """host-local's leases of a network: address -> the container ID (pod UUID) holding it."""
    d = os.path.join(LEASES, network)
    if not os.path.isdir(d):
        return {}
    return {f: open(os.path.join(d, f)).read().split()[0] for f in os.listdir(d)
            if f != "lock" and not f.startswith("last_reserved_ip")}


def host_traces(subnet24, network, uuids=(), datadir="pod-func-"):
    """What pods of `network` (on subnet24.0/24, data dir `datadir`) leave on the host, as comparable sets."""
    def out(*cmd):
        return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()
    addrs = {l.split()[1] + " " + l.split()[3] for l in out("ip", "-o", "-4", "addr") if f" {subnet24}." in l}
    routes = {l for l in out("ip", "route") if subnet24 + "." in l}
    rules = {l for l in out("iptables-save") if f'"{network}"' in l or subnet24 + "." in l or
             any(u in l for u in uuids)}
    leases = set(lease_owners(network))
    with open("/proc/self/mountinfo") as f:
        netns = {l.split()[4] for l in f if l.split()[4].endswith("/netns") and datadir in l.split()[4]}
    return {"addrs": addrs, "routes": routes, "rules": rules, "leases": leases, "netns": netns}


def pod_pids(uuid):
    """Every process of the pod (its cgroups) and its run entrypoint."""
    pids = set()
    for base in ("/sys/fs/cgroup/unified/pod", "/sys/fs/cgroup/pod", "/sys/fs/cgroup/systemd/pod"):
        d = os.path.join(base, f"pod-{uuid}")
        for root, _, files in os.walk(d):
            if "cgroup.procs" in files:
                with open(os.path.join(root, "cgroup.procs")) as f:
                    pids |= {int(x) for x in f.read().split()}
    return pids
