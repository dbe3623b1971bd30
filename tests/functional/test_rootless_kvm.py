"""Rootless kvm pods (Documentation/rootless.md "kvm"): qemu (TCG, or KVM where the user may open /dev/kvm)
and virtiofsd run in the user's user namespace, and --net=pasta is passt behind the VM's NIC, with --publish."""
import os
import socket
import time

import pytest

from runhelpers import STAGE1, flavor_skip_reason
from test_rootless import BUSYBOX_ACI, _skip_reason, http_get_until, sh, user, wait_running  # noqa: F401 (fixture)

pytestmark = [pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or ""),
              pytest.mark.skipif(flavor_skip_reason("kvm") is not None, reason=flavor_skip_reason("kvm") or "")]

KVM = f"--stage1-path={STAGE1['kvm']}"


def left_behind(u):
    """The user's VM-side processes still alive."""
    return [l for l in u.processes() if any(w in l for w in ("qemu", "virtiofsd", "passt"))]


def gc_leaves_nothing(u, uuid):
    """`pod gc` collects the exited pod, and none of the VM's processes is left."""
    assert u.pod("gc", "--grace-period=0", timeout=60).returncode == 0
    assert u.pod("status", uuid).returncode == 3
    deadline = time.time() + 10
    while left_behind(u) and time.time() < deadline:
        time.sleep(0.2)
    assert left_behind(u) == []


def test_rootless_kvm_exit_code_mapping_and_volume_owner(user):
    vol = os.path.join(user.home, "kvol")
    user.cmd("mkdir", "-p", vol, check=0)
    r = user.pod("run", "--net=none", KVM, "--insecure-options=image", "--volume", f"v,kind=host,source={vol}",
                 BUSYBOX_ACI, "--mount", "volume=v,target=/v",
                 *sh("id -u; echo from-the-vm > /v/out; exit 5"), timeout=180)
    assert r.returncode == 5, r.stderr
    assert r.stdout.splitlines()[0] == "0"  # uid 0 in the VM's pod
    out = os.path.join(vol, "out")
    assert open(out).read() == "from-the-vm\n"
    assert (os.stat(out).st_uid, os.stat(out).st_gid) == (user.uid, user.gid)  # the user's on the host
    assert left_behind(user) == []


@pytest.mark.skipif(not os.path.exists("/usr/bin/passt"), reason="passt (Debian's passt) is not installed")
def test_rootless_kvm_passt_published_port_enter_stop_gc(user):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = user.popen_pod("run", KVM, f"--publish={port}:8080", "--insecure-options=image", BUSYBOX_ACI,
                       *sh("mkdir /w; echo served-by-kvm > /w/index.html; exec httpd -f -p 8080 -h /w"))
    try:
        uuid = wait_running(user, p, timeout=120)
        assert http_get_until(port, b"served-by-kvm", timeout=60) is not None
        r = user.pod("enter", uuid, "/bin/sh", "-c", "id -u; cat /etc/resolv.conf", timeout=60)
        assert (r.returncode, r.stdout) == (0, "0\nnameserver 10.0.2.3\n"), r.stderr
        # No cgroup, but the VM pauses over QMP: a stopped VM serves nothing until it is resumed.
        r = user.pod("pause", uuid, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "state=paused" in user.pod("status", uuid).stdout
        assert http_get_until(port, b"served-by-kvm", timeout=3) is None
        assert user.pod("resume", uuid, timeout=60).returncode == 0
        assert http_get_until(port, b"served-by-kvm", timeout=30) is not None
        assert user.pod("stop", uuid, timeout=90).returncode == 0
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    gc_leaves_nothing(user, uuid)


def test_rootless_kvm_kill9_of_the_run_entrypoint_then_gc_leaves_nothing(user):
    vol = os.path.join(user.home, "kvol9")
    user.cmd("mkdir", "-p", vol, check=0)
    p = user.popen_pod("run", "--net=pasta", KVM, "--insecure-options=image", "--volume",
                       f"v,kind=host,source={vol}", BUSYBOX_ACI, "--mount", "volume=v,target=/v",
                       *sh("echo up > /v/up; exec sleep 600"))
    try:
        uuid = wait_running(user, p, timeout=120)
        deadline = time.time() + 120  # the app runs in the guest: its VM, shares and passt are all up
        while not os.path.exists(os.path.join(vol, "up")) and time.time() < deadline:
            time.sleep(0.2)
        assert os.path.exists(os.path.join(vol, "up"))
        run_pid = int(open(os.path.join(user.dir, "pods", "run", uuid, "stage1-state", "run.pid")).read())
        os.kill(run_pid, 9)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    deadline = time.time() + 30
    while time.time() < deadline and user.pod("status", uuid).stdout.split("state=")[-1].split()[0] == "running":
        time.sleep(0.2)
    gc_leaves_nothing(user, uuid)
    assert [l for l in user.processes() if "sleep" in l or "stage1" in l] == []
