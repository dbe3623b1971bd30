"""Helpers to drive a stage1 directly, the way stage0 does (Documentation/stage1-abi.md).

A test builds a pod directory by hand (make_pod), then runs the stage1 run
entrypoint with the pod dir opened and flock'ed and its fd passed as
POD_LOCK_FD (run_pod / start_pod). enter/stop/gc are run with cwd = the pod dir.
"""
import fcntl
import json
import os
import shutil
import subprocess
import time
import uuid as uuidlib

BUILD = os.environ.get("POD_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
STAGE1_ROOTFS = os.path.join(BUILD, "stage1", "rootfs")
# The stage1 trees whose run entrypoint runs the init as a host process, by flavour.
STAGE1_ROOTFS_OF = {"nspawn": STAGE1_ROOTFS, "native": os.path.join(BUILD, "stage1-native", "rootfs")}
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
NSPAWN = shutil.which("systemd-nspawn")


def busybox_rootfs(dest):
    """A minimal app rootfs: static busybox with its applets as symlinks, /etc/passwd and /etc/group."""
    os.makedirs(os.path.join(dest, "bin"), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(dest, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for a in applets:
        p = os.path.join(dest, "bin", a)
        if a != "busybox" and not os.path.lexists(p):
            os.symlink("busybox", p)
    for d in ("etc", "tmp", "root", "home/user"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    with open(os.path.join(dest, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:User:/home/user:/bin/sh\n"
                "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    with open(os.path.join(dest, "etc", "group"), "w") as f:
        f.write("root:x:0:\nusers:x:100:user\nuser:x:1000:\nnogroup:x:65534:\n")
    return dest


def app(name, exec_, user="0", group="0", env=None, workdir=None, mounts=None, read_only_rootfs=False,
        isolators=None, supplementary_gids=None):
    """One entry of a reified pod manifest's "apps"."""
    a = {"exec": list(exec_), "user": user, "group": group}
    if env:
        a["environment"] = [{"name": k, "value": v} for k, v in env.items()]
    if workdir:
        a["workingDirectory"] = workdir
    if isolators:
        a["isolators"] = isolators
    if supplementary_gids:
        a["supplementaryGIDs"] = supplementary_gids
    entry = {"name": name, "image": {"id": "sha512-" + "0" * 128, "name": "example.com/busybox"}, "app": a,
             "readOnlyRootFS": read_only_rootfs}
    if mounts:
        entry["mounts"] = [{"volume": v, "path": p} for v, p in mounts.items()]
    return entry


class PodDir:
    """A hand-built pod dir: $P/pod, $P/runtime.json, $P/stage1/rootfs with apps under opt/stage2."""

    def __init__(self, path, uuid, apps):
        self.path = path
        self.uuid = uuid
        self.apps = apps

    def file(self, *parts):
        return os.path.join(self.path, *parts)

    def read(self, *parts):
        with open(self.file(*parts)) as f:
            return f.read()

    def exists(self, *parts):
        return os.path.exists(self.file(*parts))

    def app_status(self, name):
        return json.loads(self.read("appstatus", name))

    def log(self, name):
        return self.read("logs", name + ".log") if self.exists("logs", name + ".log") else ""

    def app_rootfs(self, name):
        return self.file("stage1", "rootfs", "opt", "stage2", name, "rootfs")

    def entrypoint(self, name):
        return self.file("stage1", "rootfs", "bin", name)


def make_pod(base, apps, volumes=None, runtime=None, stage1_rootfs=STAGE1_ROOTFS):
    """Create a pod dir under `base` for `apps` (from app()), each with its own busybox rootfs."""
    u = str(uuidlib.uuid4())
    path = os.path.join(base, u)
    os.makedirs(path)
    shutil.copytree(stage1_rootfs, os.path.join(path, "stage1", "rootfs"), symlinks=True)
    for a in apps:
        busybox_rootfs(os.path.join(path, "stage1", "rootfs", "opt", "stage2", a["name"], "rootfs"))
    manifest = {"acKind": "PodManifest", "acVersion": "0.8.11", "apps": apps, "volumes": volumes or []}
    with open(os.path.join(path, "pod"), "w") as f:
        json.dump(manifest, f)
    rt = {"net": "host", "interactive": False, "notifyReady": "none", "debug": False}
    rt.update(runtime or {})
    with open(os.path.join(path, "runtime.json"), "w") as f:
        json.dump(rt, f)
    for v in volumes or []:
        if v["kind"] == "empty":
            os.makedirs(os.path.join(path, "volumes", v["name"]), exist_ok=True)
    return PodDir(path, u, apps)


def lock_pod(pod):
    """Open the pod dir and take its exclusive flock, as stage0 does before exec'ing run."""
    fd = os.open(pod.path, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def start_pod(pod, *flags, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL):
    """Start the run entrypoint with the locked pod dir as POD_LOCK_FD; returns the Popen."""
    fd = lock_pod(pod)
    env = dict(os.environ, POD_LOCK_FD=str(fd), POD_STAGE1_ABI="1")
    try:
        return subprocess.Popen([pod.entrypoint("run"), *flags, pod.uuid], cwd=pod.path, env=env,
                                pass_fds=(fd,), stdin=stdin, stdout=stdout, stderr=stderr, text=True)
    finally:
        os.close(fd)


def run_pod(pod, *flags, timeout=60, input=None):
    """Run the pod to its end; returns a CompletedProcess."""
    p = start_pod(pod, *flags, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL)
    out, err = p.communicate(input=input, timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def lock_held(pod):
    """Is the pod's exclusive lock held by someone (probe with a shared non-blocking flock)?"""
    return lock_held_at(pod.path)


def lock_held_at(path):
    """Is the exclusive lock on the pod directory `path` held by someone?"""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def wait_for(pred, timeout=10.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def entrypoint(pod, name, *args, timeout=30, input=None):
    """Run enter/stop/gc with cwd = the pod dir."""
    return subprocess.run([pod.entrypoint(name), *args], cwd=pod.path, capture_output=True, text=True,
                          timeout=timeout, input=input)


def mounts_below(path):
    """Mount points at or below `path` in our mount namespace."""
    real = os.path.realpath(path)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == real or mp.startswith(real + "/"):
                out.append(mp)
    return out
