"""Helpers for tests that run real pods through `pod run` (both stage1 flavours)."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import BUILD

BUSYBOX_ACI = os.path.join(BUILD, "images", "busybox.aci")
STAGE1 = {
    "nspawn": os.path.join(BUILD, "stage1", "pod-stage1-nspawn.aci"),
    "native": os.path.join(BUILD, "stage1-native", "pod-stage1-native.aci"),
    "kvm": os.path.join(BUILD, "stage1-kvm", "pod-stage1-kvm.aci"),
}


def flavor_skip_reason(flavor):
    """Why pods of this flavour cannot run here, or None."""
    if os.geteuid() != 0:
        return "running pods needs root"
    if not os.path.exists(STAGE1[flavor]):
        return f"stage1 image {STAGE1[flavor]} was not built"
    if not os.path.exists(BUSYBOX_ACI):
        return "example busybox image was not built"
    if flavor == "nspawn" and not shutil.which("systemd-nspawn"):
        return "systemd-nspawn is not installed"
    if flavor == "kvm" and not shutil.which("qemu-system-x86_64") and not shutil.which("lkvm"):
        return "neither qemu-system-x86_64 nor lkvm is installed"
    return None


both = pytest.mark.both_flavors


@pytest.fixture(params=["nspawn", "native", "kvm"])
def flavor(request):
    """The stage1 flavour a test runs on; kvm only for tests marked `both` (emulated VMs are slow)."""
    if request.param == "kvm" and not request.node.get_closest_marker("both_flavors"):
        pytest.skip("kvm flavour: covered by the tests marked for both flavours (emulated VMs are slow)")
    reason = flavor_skip_reason(request.param)
    if reason:
        pytest.skip(reason)
    return request.param


def run_pod(pod, flavor, *args, pod_flags=(), timeout=120, check=None, tmp_path=None, input=None, env=None):
    """`pod run` of the busybox image with app args (env: added to pod run's environment); returns
    (CompletedProcess, uuid)."""
    uuid_file = os.path.join(pod.dir, f"uuid-{time.monotonic_ns()}")
    r = pod.run("run", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}",
                f"--uuid-file-save={uuid_file}", *pod_flags, BUSYBOX_ACI, *args,
                timeout=timeout, check=check, input=input, env=env)
    uuid = open(uuid_file).read().strip() if os.path.exists(uuid_file) else None
    return r, uuid


def sh(script):
    """App flags running a busybox shell script."""
    return ["--exec", "/bin/sh", "--", "-c", script]


def status(pod, uuid):
    out = pod.run("status", uuid, check=0).stdout
    return dict(l.split("=", 1) for l in out.splitlines() if "=" in l)


def logs(pod, uuid, app=None):
    args = ["logs", uuid] + ([f"--app={app}"] if app else [])
    return pod.run(*args, check=0).stdout


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [l.split()[4] for l in f if l.split()[4].startswith(path)]


def start_pod(pod, flavor, *args, pod_flags=()):
    """Start `pod run` in the background; returns (Popen, uuid) once the pod is running."""
    uuid_file = os.path.join(pod.dir, f"uuid-{time.monotonic_ns()}")
    from conftest import POD_BIN
    cmd = [POD_BIN, "--dir", pod.dir, "run", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}",
           f"--uuid-file-save={uuid_file}", *pod_flags, BUSYBOX_ACI, *args]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 90
    while not os.path.exists(uuid_file) or not open(uuid_file).read().strip():
        if p.poll() is not None or time.monotonic() > deadline:
            out, err = p.communicate()
            raise AssertionError(f"pod run did not start: {p.returncode}\n{out}\n{err}")
        time.sleep(0.02)
    uuid = open(uuid_file).read().strip()
    pod.run("status", "--wait-ready=90s", uuid, check=0)
    return p, uuid


def reap_pod(pod, p, uuid, timeout=30):
    """Cleanup after a test: a SIGKILL of `pod run` alone would leave the stage1 and the apps running."""
    if p.poll() is None:
        pod.run("stop", "--force", uuid, timeout=90)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
