"""Pod networking with the real CNI plugins (Documentation/networking.md): pods on `default` talk TCP and UDP,
published ports, default-restricted, a user bridge network, DNS, bad configs. All traffic stays on this host:
between pods, the host, and a netns the test makes."""
import json
import os
import signal
import subprocess
import urllib.request

import pytest

from net_helpers import (fetch, free_subnet, host_traces, needs_net, pod_ip, pod_networks, ptp_net, write_conflist)
from runhelpers import STAGE1, BUSYBOX_ACI, run_pod, sh, start_pod

pytestmark = [needs_net]
FLAVOR = "nspawn"
# python3 of the host inside a busybox pod (busybox nc has no UDP): /usr, /lib, /lib64 read-only
PY_VOLUMES = ["--volume=usr,kind=host,source=/usr,readOnly=true",
              "--volume=lib,kind=host,source=/usr/lib,readOnly=true",
              "--volume=lib64,kind=host,source=/usr/lib64,readOnly=true"]
PY_MOUNTS = ["--mount=volume=usr,target=/usr", "--mount=volume=lib,target=/lib", "--mount=volume=lib64,target=/lib64"]


def http_get(ip, port, path):
    """An HTTP GET with busybox nc (this static busybox's wget segfaults, on any network)."""
    return f"printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {ip} {port}"


def stop(pod, p, uuid):
    pod.run("stop", uuid, timeout=60)
    try:
        p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()


def test_default_is_the_default_network_and_lo_is_up(pod):
    r, uuid = run_pod(pod, FLAVOR, *sh("ip -o -4 addr; ip route"), check=0)
    assert " lo " in r.stdout and "127.0.0.1/8" in r.stdout
    assert "eth0" in r.stdout and "inet 172.16.28." in r.stdout
    assert "default via 172.16.28.1" in r.stdout
    rt = json.loads(open(os.path.join(pod.dir, "pods", "run", uuid, "runtime.json")).read())
    assert rt["net"] == "default"
    assert [n["name"] for n in rt["networks"]] == ["default"]
    assert rt["networks"][0]["source"] == "built-in"
    assert [p["type"] for p in rt["networks"][0]["conflist"]["plugins"]] == ["ptp"]  # portmap: only with ports
    # left at once when the pod exits: the lease is free, the netns file gone, net.json says deleted
    assert not os.path.exists(os.path.join(pod.dir, "pods", "run", uuid, "netns"))
    assert [n["state"] for n in pod_networks(pod, uuid)] == ["deleted"]


def test_host_and_none_keep_working(pod):
    r, _ = run_pod(pod, FLAVOR, *sh("ip -o link | wc -l; ip -o -4 addr"), pod_flags=["--net=none"], check=0)
    assert r.stdout.split()[0] == "1"  # lo only
    host_links = len(subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.splitlines())
    r, uuid = run_pod(pod, FLAVOR, *sh("ip -o link | wc -l"), pod_flags=["--net=host"], check=0)
    assert abs(int(r.stdout.split()[0]) - host_links) < 5  # the host's links (others may come and go)
    assert pod_networks(pod, uuid) == []


def test_two_pods_on_default_talk_tcp_and_udp(pod):
    # An echo server for one TCP connection and one UDP datagram, and its client (python3 of the host: this
    # busybox's nc has no UDP, and its listener quits at the EOF of its /dev/null stdin).
    server = ("import socket\n"
              "t=socket.socket(); t.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); t.bind(('0.0.0.0',5000))\n"
              "t.listen(1); u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.bind(('0.0.0.0',5001))\n"
              "c,_=t.accept(); d=c.recv(100); c.sendall(b'tcp-echo:'+d); c.close(); print('tcp got',d.decode())\n"
              "d,a=u.recvfrom(100); u.sendto(b'udp-echo:'+d,a); print('udp got',d.decode(),flush=True)\n")
    p1, a = start_pod(pod, FLAVOR, *PY_MOUNTS, "--exec", "/usr/bin/python3", "--", "-c", server, pod_flags=PY_VOLUMES)
    try:
        ip = pod_ip(pod, a)
        client = ("import socket,time\n"
                  "for i in range(50):\n"
                  "  try: t=socket.create_connection(('%s',5000),timeout=5); break\n"
                  "  except ConnectionRefusedError: time.sleep(0.1)\n"
                  "t.sendall(b'hello-tcp'); print(t.recv(100).decode())\n"
                  "u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.settimeout(5)\n"
                  "u.sendto(b'hello-udp',('%s',5001)); print(u.recv(100).decode())\n") % (ip, ip)
        r, b = run_pod(pod, FLAVOR, *PY_MOUNTS, "--exec", "/usr/bin/python3", "--", "-c", client,
                       pod_flags=PY_VOLUMES, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "tcp-echo:hello-tcp\nudp-echo:hello-udp\n"
        assert pod_networks(pod, b)[0]["ips"] != pod_networks(pod, a)[0]["ips"]
        out, err = p1.communicate(timeout=30)
        assert p1.returncode == 0, err
        assert out == "tcp got hello-tcp\nudp got hello-udp\n"
    finally:
        if p1.poll() is None:
            stop(pod, p1, a)


def test_published_port_reachable_from_host_loopback_and_other_pods(pod):
    port = 20000 + os.getpid() % 20000
    p, uuid = start_pod(pod, FLAVOR, *sh("echo hello-from-pod > /tmp/index.html; httpd -f -p 80 -h /tmp"),
                        pod_flags=[f"--publish=127.0.0.1:{port}:80/tcp"])
    try:
        st = json.loads(pod.run("status", "--format=json", uuid, check=0).stdout)
        assert st["networks"][0]["ports"] == [f"127.0.0.1:{port}->80/tcp"]
        rt = json.load(open(os.path.join(pod.dir, "pods", "run", uuid, "runtime.json")))
        assert [p["type"] for p in rt["networks"][0]["conflist"]["plugins"]] == ["ptp", "portmap"]
        assert f"127.0.0.1:{port}->80/tcp" in pod.run("list", check=0).stdout
        body = fetch(f"http://127.0.0.1:{port}/index.html")
        assert body == "hello-from-pod\n"
        # another pod reaches it through the host (published on 127.0.0.1 only: through the pod's address)
        ip = pod_ip(pod, uuid)
        r, _ = run_pod(pod, FLAVOR, *sh(http_get(ip, 80, "/index.html")), check=0)
        assert "200 OK" in r.stdout and r.stdout.endswith("\nhello-from-pod\n")
    finally:
        stop(pod, p, uuid)
    rules = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    assert uuid not in rules and f"--dport {port}" not in rules
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=3)


def test_published_port_on_every_address_reachable_from_another_pod(pod):
    port = 40000 + os.getpid() % 20000
    p, uuid = start_pod(pod, FLAVOR, *sh("echo ok > /tmp/i; httpd -f -p 8080 -h /tmp"),
                        pod_flags=[f"--publish={port}:8080"])
    try:
        body = fetch(f"http://127.0.0.1:{port}/i")
        assert body == "ok\n"
        # from a pod: the host's address on the pod's network, DNATed back (hairpin)
        r, _ = run_pod(pod, FLAVOR, *sh(http_get("172.16.28.1", port, "/i")), check=0)
        assert "200 OK" in r.stdout and r.stdout.endswith("\nok\n")
    finally:
        stop(pod, p, uuid)


@pytest.fixture
def outside():
    """A network namespace with its own veth to the host: an address "outside" the host netns."""
    sub = free_subnet("10.24")
    ns, veth = f"podtest-out-{os.getpid()}", f"pto{os.getpid() % 100000}"
    cmds = [["ip", "netns", "add", ns], ["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns],
            ["ip", "addr", "add", f"{sub}.1/24", "dev", veth], ["ip", "link", "set", veth, "up"],
            ["ip", "-n", ns, "addr", "add", f"{sub}.2/24", "dev", "eth0"], ["ip", "-n", ns, "link", "set", "eth0", "up"],
            ["ip", "-n", ns, "link", "set", "lo", "up"], ["ip", "-n", ns, "route", "add", "default", "via", f"{sub}.1"]]
    try:
        for c in cmds:
            subprocess.run(c, check=True, capture_output=True)
        yield f"{sub}.2"
    finally:
        subprocess.run(["ip", "link", "del", veth], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_default_restricted_has_no_route_out_but_default_has(pod, outside):
    r, _ = run_pod(pod, FLAVOR, *sh(f"ping -c 1 -W 3 {outside}"), pod_flags=["--net=default-restricted"])
    assert r.returncode == 1, r.stdout + r.stderr
    assert "unreachable" in (r.stdout + r.stderr).lower()
    r, _ = run_pod(pod, FLAVOR, *sh("ip route; ping -c 1 -W 3 172.16.29.1"), pod_flags=["--net=default-restricted"])
    assert r.returncode == 0, r.stdout + r.stderr  # the host itself is reachable
    assert "default" not in r.stdout
    r, _ = run_pod(pod, FLAVOR, *sh(f"ping -c 1 -W 3 {outside}"), pod_flags=["--net=default"])
    assert r.returncode == 0, r.stdout + r.stderr  # masqueraded out


def test_user_bridge_network_two_networks_and_cni_args(pod):
    sub = free_subnet()
    br = f"podtbr{os.getpid() % 10000}"
    path = write_conflist(pod, "testbr", [
        {"type": "bridge", "bridge": br, "isGateway": True, "ipMasq": False,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": sub + ".0/24"}]]}},
        {"type": "firewall", "backend": "iptables"},
        {"type": "tuning", "sysctl": {"net.ipv4.conf.IFNAME.arp_notify": "1"}},
        {"type": "portmap", "capabilities": {"portMappings": True}}], version="0.4.0")
    r, uuid = run_pod(pod, FLAVOR, *sh(f"ip -o -4 addr; ping -c 1 -W 3 {sub}.1; "
                                       "cat /proc/sys/net/ipv4/conf/eth1/arp_notify"),
                      pod_flags=[f"--net=default,testbr:IP={sub}.77"], check=0)
    assert "eth0" in r.stdout and "172.16.28." in r.stdout
    assert f"eth1    inet {sub}.77/24" in r.stdout.replace("\t", " ") or f"inet {sub}.77/24" in r.stdout
    assert r.stdout.split()[-1] == "1"
    rt = json.loads(open(os.path.join(pod.dir, "pods", "run", uuid, "runtime.json")).read())
    assert rt["networks"][1] | {"conflist": None} == {"name": "testbr", "ifname": "eth1", "args": f"IP={sub}.77",
                                                      "source": path, "conflist": None, "ports": []}
    # the bridge goes with the last pod on it
    assert not os.path.exists(f"/sys/class/net/{br}")
    assert host_traces(sub, "testbr", [uuid]) == {"addrs": set(), "routes": set(), "rules": set(), "leases": set(),
                                                  "netns": set()}


def test_dns_flags_land_in_resolv_conf(pod):
    r, _ = run_pod(pod, FLAVOR, *sh("cat /etc/resolv.conf"),
                   pod_flags=["--dns=10.0.0.53", "--dns=10.0.0.54", "--dns-search=example.com",
                              "--dns-search=corp", "--dns-opt=ndots:3", "--dns-opt=timeout:1"], check=0)
    assert r.stdout == ("nameserver 10.0.0.53\nnameserver 10.0.0.54\nsearch example.com corp\n"
                        "options ndots:3 timeout:1\n")
    r, _ = run_pod(pod, FLAVOR, *sh("cat /etc/resolv.conf"), pod_flags=["--dns=host"], check=0)
    assert r.stdout == open("/etc/resolv.conf").read()
    r, _ = run_pod(pod, FLAVOR, *sh("cat /etc/resolv.conf"), pod_flags=["--dns=host", "--dns=1.1.1.1"])
    assert r.returncode == 1 and '"host"' in r.stderr


def test_dns_from_the_cni_result(pod):
    sub = free_subnet()
    # host-local has no DNS; the ptp plugin passes its config's "dns" into the result
    write_conflist(pod, "withdns", [{"type": "ptp", "dns": {"nameservers": ["10.9.9.9"], "search": ["pods.test"]},
                                     "ipam": {"type": "host-local", "subnet": sub + ".0/24"}}])
    r, _ = run_pod(pod, FLAVOR, *sh("cat /etc/resolv.conf"), pod_flags=["--net=withdns"], check=0)
    assert r.stdout == "nameserver 10.9.9.9\nsearch pods.test\n"


@pytest.mark.parametrize("case", ["malformed", "unknown-plugin", "overlap", "no-name", "no-type", "unknown-net",
                                  "bad-flag", "publish-without-portmap"])
def test_bad_configs_fail_prepare_naming_file_and_field(pod, case):
    d = os.path.join(pod.dir, "net.d")
    os.makedirs(d, exist_ok=True)
    f = os.path.join(d, "10-bad.conflist")
    net, extra, code = "bad", [], 1
    if case == "malformed":
        open(f, "w").write('{"cniVersion": "1.0.0", "name": "bad", "plugins": [')
        want = f + " is not valid JSON"
    elif case == "unknown-plugin":
        write_conflist(pod, "bad", [{"type": "ptp", "ipam": {"type": "host-local", "subnet": "10.30.0.0/24"}},
                                    {"type": "nosuchplugin"}], filename="10-bad.conflist")
        want = f'{f}: plugins[1].type: unknown plugin "nosuchplugin" (no executable nosuchplugin in /usr/lib/cni)'
    elif case == "overlap":
        write_conflist(pod, "bad", [{"type": "ptp", "ipam": {"type": "host-local", "subnet": "172.16.0.0/16"}}],
                       filename="10-bad.conflist")
        net = "default,bad"
        want = (f"{f}: plugins[0].ipam.subnet: subnet 172.16.0.0/16 of network bad overlaps subnet 172.16.28.0/24 "
                "of network default (built-in: plugins[0].ipam.ranges[0][0].subnet)")
    elif case == "no-name":
        open(f, "w").write('{"cniVersion": "1.0.0", "plugins": [{"type": "ptp"}]}')
        want = f"{f}: name: is required (a string)"
    elif case == "no-type":
        open(f, "w").write('{"cniVersion": "1.0.0", "name": "bad", "plugins": [{"ipam": {}}]}')
        want = f"{f}: plugins[0].type: is required (a string)"
    elif case == "unknown-net":
        net, code, want = "nosuch", 3, 'no network named "nosuch"'
    elif case == "bad-flag":
        net, code, want = "host,default", 2, "--net=host,default: host cannot be combined"
    else:
        write_conflist(pod, "bad", [{"type": "ptp", "ipam": {"type": "host-local", "subnet": "10.31.0.0/24"}}],
                       filename="10-bad.conflist")
        extra, code, want = ["--publish=8080:80"], 2, "published ports need a network with the portmap plugin"
    r = pod.run("prepare", "--insecure-options=image", f"--stage1-path={STAGE1[FLAVOR]}", f"--net={net}", *extra,
                BUSYBOX_ACI)
    assert r.returncode == code, r.stderr
    assert want in r.stderr
    assert all(not os.listdir(os.path.join(pod.dir, "pods", s)) for s in ("prepared", "prepare", "run"))


def test_port_by_name_needs_a_named_port(pod):
    r = pod.run("prepare", "--insecure-options=image", f"--stage1-path={STAGE1[FLAVOR]}", "--port=http:8080",
                BUSYBOX_ACI)
    assert r.returncode == 2
    assert 'no app of the pod has a port named "http"' in r.stderr


def test_run_prepared_resolves_net_again(pod):
    uuid = pod.run("prepare", "--insecure-options=image", f"--stage1-path={STAGE1[FLAVOR]}", BUSYBOX_ACI,
                   "--exec", "/bin/sh", "--", "-c", "ip -o -4 addr | grep eth0", check=0).stdout.strip()
    r = pod.run("run-prepared", "--net=default-restricted", uuid, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "inet 172.16.29." in r.stdout
    rt = json.load(open(os.path.join(pod.dir, "pods", "run", uuid, "runtime.json")))
    assert rt["net"] == "default-restricted" and rt["networks"][0]["name"] == "default-restricted"
