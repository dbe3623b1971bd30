"""The kvm flavour on CNI networks (Documentation/stage1-kvm.md, "Networks"): the VM has the pod's IP (a tap in
$P/netns joined to the CNI interface by tc), reaches the host at the gateway, serves a published port, and
leaves nothing behind after stop + gc, also after a kill -9 of `pod run`. And `pod status --check-net` (CNI
CHECK) on a running pod. qemu runs under TCG here: every pod is bounded in time."""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from net_helpers import fetch, free_subnet, host_traces, lease_owners, own_ptp_net, pod_networks, write_conflist
from runhelpers import BUSYBOX_ACI, STAGE1, flavor_skip_reason, run_pod, sh, start_pod

NOTHING = {"addrs": set(), "routes": set(), "rules": set(), "leases": set(), "netns": set()}
TCG = ["--stage1-opt", "accel=tcg"]  # no probe: KVM does not boot guests here
VM_TIMEOUT = 180


def skip_reason(flavor):
    reason = flavor_skip_reason(flavor)
    if reason:
        return reason
    if flavor == "kvm" and not shutil.which("qemu-system-x86_64"):
        return "CNI networks on the kvm flavour need qemu-system-x86_64"
    for p in ("ptp", "host-local", "portmap", "loopback"):
        if not os.access(os.path.join("/usr/lib/cni", p), os.X_OK):
            return f"CNI plugin {p} is not installed (containernetworking-plugins)"
    for t in ("iptables-save", "ip", "nsenter"):
        if not shutil.which(t):
            return f"{t} is not installed"
    return None


needs_kvm_net = pytest.mark.skipif(skip_reason("kvm") is not None, reason=skip_reason("kvm") or "")


@pytest.fixture
def net(pod):
    """A ptp network of the test's own (masquerade and portmap, as default) on a free /24."""
    yield own_ptp_net(pod, "10.26", "kvm")


def result_of(pod, uuid, network):
    with open(os.path.join(pod.dir, "pods", "run", uuid, "net.json")) as f:
        return [n for n in json.load(f)["networks"] if n["name"] == network][0]["result"]


def host_links():
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def in_netns(pod, uuid, *cmd):
    path = os.path.join(pod.dir, "pods", "run", uuid, "netns")
    return subprocess.run(["nsenter", f"--net={path}", *cmd], capture_output=True, text=True, timeout=30)


def stop(pod, p, uuid):
    assert pod.run("stop", uuid, timeout=90).returncode == 0
    try:
        p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()


@needs_kvm_net
def test_kvm_pod_has_the_cni_address_and_reaches_the_host_gateway(pod):
    # A listener on the host: the VM connects to the gateway (the host end of ptp's veth) from the pod's IP.
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", 0))
    srv.listen(1)
    srv.settimeout(VM_TIMEOUT)
    port = srv.getsockname()[1]
    got = {}

    def serve():
        try:
            c, peer = srv.accept()
            c.settimeout(30)
            got["peer"], got["data"] = peer[0], c.recv(100).decode()
            c.close()
        except OSError as e:
            got["error"] = str(e)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    script = (f"ip -o -4 addr; ip route; cat /sys/class/net/eth0/address; cat /etc/resolv.conf; "
              f"echo hello-from-kvm | nc -w 10 172.16.28.1 {port}")
    try:
        r, uuid = run_pod(pod, "kvm", *sh(script), pod_flags=[*TCG, "--net=default"], timeout=VM_TIMEOUT)
    finally:
        t.join(timeout=5)
        srv.close()
    assert r.returncode == 0, r.stderr
    res = result_of(pod, uuid, "default")
    ip = res["ips"][0]["address"]  # 172.16.28.N/24, from host-local
    assert ip.startswith("172.16.28.") and f"inet {ip} " in r.stdout
    assert "default via 172.16.28.1 dev eth0" in r.stdout
    # ptp's routes, as in the netns: the gateway on-link, the subnet through it (no on-link /24)
    assert "172.16.28.1 dev eth0" in r.stdout and "172.16.28.0/24 via 172.16.28.1 dev eth0" in r.stdout
    mac = [i["mac"] for i in res["interfaces"] if i.get("sandbox")][0]
    assert mac in r.stdout.split()  # the guest's NIC has the CNI interface's MAC address
    # default's result has no DNS: the host's resolv.conf, as for the other flavours
    host_ns = [l for l in open("/etc/resolv.conf").read().splitlines() if l.startswith("nameserver")]
    assert host_ns and all(l in r.stdout.splitlines() for l in host_ns)
    assert got.get("data") == "hello-from-kvm\n", got
    assert got["peer"] == ip.split("/")[0]  # from the pod's address, not NATed
    # left when the pod exited: the netns file gone, the lease free, net.json says deleted
    assert not os.path.exists(os.path.join(pod.dir, "pods", "run", uuid, "netns"))
    assert [n["state"] for n in pod_networks(pod, uuid)] == ["deleted"]
    assert uuid not in lease_owners("default").values()


@needs_kvm_net
def test_kvm_pod_on_two_networks_has_a_nic_on_each(pod):
    sub = free_subnet("10.26")
    name = f"kvmdns{os.getpid()}-{random.randint(0, 1 << 30)}"
    write_conflist(pod, name, [{"type": "ptp", "ipMasq": False, "dns": {"nameservers": ["10.9.8.7"],
                                                                         "search": ["pods.example"]},
                                "ipam": {"type": "host-local", "ranges": [[{"subnet": sub + ".0/24"}]],
                                         "routes": [{"dst": "0.0.0.0/0"}]}}])
    r, uuid = run_pod(pod, "kvm", *sh("ip -o -4 addr; ip route; cat /sys/class/net/eth0/address "
                                      "/sys/class/net/eth1/address /etc/resolv.conf"),
                      pod_flags=[*TCG, f"--net=default,{name}"], timeout=VM_TIMEOUT)
    assert r.returncode == 0, r.stderr
    for network, ifname, gw in (("default", "eth0", "172.16.28.1"), (name, "eth1", sub + ".1")):
        res = result_of(pod, uuid, network)
        ip = res["ips"][0]["address"]
        mac = [i["mac"] for i in res["interfaces"] if i.get("sandbox")][0]
        # the NIC with the MAC of that network's interface has that network's address and routes
        assert f"{ifname} inet {ip} " in " ".join(r.stdout.split()), r.stdout
        assert f"{gw} dev {ifname}" in r.stdout
        assert mac in r.stdout.split()
    assert r.stdout.count("default via") == 2  # both networks route 0.0.0.0/0 (ptp), as in the netns
    # the DNS of the first network whose result has some (ptp passes its "dns" on)
    assert "nameserver 10.9.8.7" in r.stdout.splitlines() and "search pods.example" in r.stdout.splitlines()
    assert [n["state"] for n in pod_networks(pod, uuid)] == ["deleted", "deleted"]
    assert host_traces(sub, name, (uuid,), pod.dir) == NOTHING


@needs_kvm_net
def test_kvm_dual_stack_network_gives_the_guest_its_ipv6_address_and_routes(pod):
    sub, sub6 = free_subnet("10.26"), f"fd{random.randint(0x10, 0xff):02x}:{random.randint(1, 0xffff):x}::"
    name = f"kvm6{os.getpid()}-{random.randint(0, 1 << 30)}"
    write_conflist(pod, name, [{"type": "ptp", "ipMasq": False,
                                "ipam": {"type": "host-local",
                                         "ranges": [[{"subnet": sub + ".0/24"}], [{"subnet": sub6 + "/64"}]],
                                         "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]}}])
    p, uuid = start_pod(pod, "kvm", *sh("ip -o -6 addr show dev eth0 scope global; ip -6 route; "
                                        "echo kvm-v6 > /tmp/i.html; exec httpd -f -p 80 -h /tmp"),
                        pod_flags=[*TCG, f"--net={name}"])
    try:
        ips = [i["address"] for i in result_of(pod, uuid, name)["ips"]]
        [ip6] = [a.split("/")[0] for a in ips if ":" in a]
        gw6 = [i["gateway"] for i in result_of(pod, uuid, name)["ips"] if ":" in i["address"]][0]
        # From the host: the VM answers on the address CNI gave the netns (ptp's route to it via the veth).
        assert fetch(f"http://[{ip6}]:80/i.html", timeout=60) == "kvm-v6\n"
    finally:
        stop(pod, p, uuid)
    out = " ".join(pod.run("logs", uuid, check=0).stdout.split())
    assert f"eth0 inet6 {ip6}/64 scope global" in out, out
    # The netns's routes, exactly: on-link to the gateway, the subnet and the default through it.
    assert f"{gw6} dev eth0" in out and f"{sub6}/64 via {gw6} dev eth0" in out and f"default via {gw6} dev eth0" in out
    assert pod.run("gc", "--grace-period=0", check=0).returncode == 0
    assert host_traces(sub, name, (uuid,), pod.dir) == NOTHING


@needs_kvm_net
def test_kvm_published_port_and_teardown_leave_nothing(pod, net):
    name, sub = net
    assert host_traces(sub, name, (), pod.dir) == NOTHING
    port = 20000 + (os.getpid() * 13) % 20000
    p, uuid = start_pod(pod, "kvm", *sh("echo kvm-pod > /tmp/i.html; exec httpd -f -p 80 -h /tmp"),
                        pod_flags=[*TCG, f"--net={name}", f"--publish=127.0.0.1:{port}:80/tcp"])
    try:
        assert fetch(f"http://127.0.0.1:{port}/i.html", timeout=60) == "kvm-pod\n"  # portmap's DNAT, to the VM
        res = result_of(pod, uuid, name)
        host_veth = [i["name"] for i in res["interfaces"] if not i.get("sandbox")][0]
        assert f" {host_veth}@" in host_links()
        during = host_traces(sub, name, (uuid,), pod.dir)
        assert during["netns"] and during["leases"] and during["rules"]
        # In the netns: the tap beside eth0, joined to it by tc both ways.
        links = in_netns(pod, uuid, "ip", "-o", "-d", "link").stdout
        assert " pod-tap0: " in links and "tun type tap" in links
        for dev, to in (("eth0", "pod-tap0"), ("pod-tap0", "eth0")):
            f = in_netns(pod, uuid, "tc", "filter", "show", "dev", dev, "ingress").stdout
            assert f"Egress Redirect to device {to}" in f, f
    finally:
        stop(pod, p, uuid)
    assert pod.run("gc", "--grace-period=0", check=0).returncode == 0
    assert host_traces(sub, name, (uuid,), pod.dir) == NOTHING
    assert f" {host_veth}@" not in host_links()


@needs_kvm_net
def test_kvm_check_net_then_kill9_of_run_then_gc_leaves_nothing(pod, net):
    name, sub = net
    p, uuid = start_pod(pod, "kvm", *sh("exec sleep 600"), pod_flags=[*TCG, f"--net={name}"])
    assert host_traces(sub, name, (uuid,), pod.dir)["netns"]
    # CNI CHECK: ptp finds eth0 as ADD left it (the address stays on it; the VM answers for it). Without
    # published ports: portmap 1.1's CHECK of an IPv4-only pod looks for IPv6 rules (containernetworking/plugins#819).
    r = pod.run("status", "--check-net", "--format=json", uuid, check=0)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [n.get("check") for n in json.loads(r.stdout)["networks"]] == ["ok"]
    os.kill(p.pid, signal.SIGKILL)  # pod run is the kvm run entrypoint (exec); qemu dies with it (PDEATHSIG)
    p.communicate(timeout=30)
    during = host_traces(sub, name, (uuid,), pod.dir)
    assert during["netns"] and during["leases"], "kill -9 should have left the network for gc"
    deadline = time.monotonic() + 60
    while json.loads(pod.run("status", "--format=json", uuid, check=0).stdout)["state"] == "running":
        assert time.monotonic() < deadline, "the pod still runs after kill -9 of its run entrypoint"
        time.sleep(0.2)
    r = pod.run("gc", "--grace-period=0", check=0)
    assert r.returncode == 0, r.stderr
    assert host_traces(sub, name, (uuid,), pod.dir) == NOTHING


@needs_kvm_net
@pytest.mark.parametrize("point", ["net:before-add", "kvm:taps-connected"])
def test_kvm_kill9_of_run_while_joining_then_gc_leaves_nothing(pod, net, point):
    name, sub = net
    r, uuid = run_pod(pod, "kvm", "--exec", "/bin/true", pod_flags=[*TCG, f"--net={name}"],
                      env={"POD_CRASHPOINT": point}, timeout=VM_TIMEOUT)
    assert r.returncode == -signal.SIGKILL  # pod run is the run entrypoint (exec)
    assert json.loads(pod.run("status", "--format=json", uuid, check=0).stdout)["state"] == "exited"
    during = host_traces(sub, name, (uuid,), pod.dir)
    assert during["netns"] and (point == "net:before-add" or during["leases"])
    r = pod.run("gc", "--grace-period=0", timeout=120, check=0)
    assert r.returncode == 0, r.stderr
    assert host_traces(sub, name, (uuid,), pod.dir) == NOTHING


@pytest.mark.skipif(skip_reason("native") is not None, reason=skip_reason("native") or "")
def test_check_net_reports_a_broken_network(pod, net):
    name, sub = net
    p, uuid = start_pod(pod, "native", *sh("exec sleep 600"), pod_flags=[f"--net={name}"])
    try:
        r = pod.run("status", "--check-net", uuid, check=0)
        assert r.returncode == 0, r.stderr
        assert f"network-{name}-check=ok" in r.stdout.splitlines()
        # Something else removes the default route ADD made: ptp's CHECK sees it. (Not the address: ptp's
        # DEL finds its masquerade rules through it, and would leave them.)
        assert in_netns(pod, uuid, "ip", "route", "del", "default").returncode == 0
        r = pod.run("status", "--check-net", uuid)
        assert r.returncode == 1
        line = [l for l in r.stdout.splitlines() if l.startswith(f"network-{name}-check=")][0]
        assert line != f"network-{name}-check=ok" and "ptp" in line
        assert f"network {name} failed its CNI CHECK" in r.stderr
    finally:
        stop(pod, p, uuid)
    r = pod.run("status", "--check-net", uuid)
    assert r.returncode == 4 and "it is exited" in r.stderr, r.stderr  # a conflict: not running
    assert host_traces(sub, name, (uuid,), pod.dir) == NOTHING


@pytest.mark.skipif(skip_reason("kvm") is not None, reason=skip_reason("kvm") or "")
def test_a_stage1_that_does_not_declare_cni_is_refused_cni_networks(pod, tmp_path):
    # The kvm image with its `pod/stage1/networks` annotation taken out: stage0 refuses CNI networks for it
    # and defaults to --net=host (what the kvm flavour declared before it joined CNI networks).
    src = tmp_path / "s1"
    src.mkdir()
    subprocess.run(["tar", "-xf", STAGE1["kvm"], "-C", str(src)], check=True)
    m = json.loads((src / "manifest").read_text())
    m["annotations"] = [a for a in m["annotations"] if a["name"] != "pod/stage1/networks"]
    (src / "manifest").write_text(json.dumps(m))
    aci = str(tmp_path / "no-cni.aci")
    subprocess.run(["tar", "-cf", aci, "-C", str(src), "manifest", "rootfs"], check=True)
    r = pod.run("prepare", "--insecure-options=image", f"--stage1-path={aci}", "--net=default", BUSYBOX_ACI)
    assert r.returncode == 2
    assert "does not join CNI networks; use --net=host or --net=none" in r.stderr
    uuid = pod.run("prepare", "--insecure-options=image", f"--stage1-path={aci}", BUSYBOX_ACI, check=0).stdout.strip()
    rt = json.load(open(os.path.join(pod.dir, "pods", "prepared", uuid, "runtime.json")))
    assert rt["net"] == "host" and rt["networks"] == []
