"""stage1-kvm: real VMs (qemu; TCG here, KVM when the probe says it works).

Each test builds a pod dir by hand the way stage0 would (a copy of the stage1
rootfs from the build tree, busybox-static app rootfs under
opt/stage2/<app>/rootfs, the reified pod manifest, runtime.json), locks it and
execs the run entrypoint with POD_LOCK_FD. Every VM start is bounded.
"""
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
import uuid as uuidlib

import pytest

from conftest import BUILD
from stage1_helpers import lock_held_at

IMAGE = os.path.join(BUILD, "stage1-kvm", "image")
ACI = os.path.join(BUILD, "stage1-kvm", "pod-stage1-kvm.aci")
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
VM_TIMEOUT = 90  # seconds for one pod, boot included (TCG)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not os.path.isdir(IMAGE), reason="stage1-kvm image not built"),
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="qemu-system-x86_64 not installed"),
]


def app_rootfs(root):
    os.makedirs(os.path.join(root, "bin"))
    for d in ("etc", "tmp", "proc", "dev", "work"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(root, "bin", "busybox"))
    for t in ("sh", "echo", "cat", "true", "false", "ls", "id", "pwd", "sleep", "env", "test", "kill", "wget", "ping",
              "grep"):
        os.symlink("busybox", os.path.join(root, "bin", t))


class KvmPod:
    def __init__(self, base, apps, volumes=(), runtime=None):
        self.uuid = str(uuidlib.uuid4())
        self.dir = os.path.join(base, self.uuid)
        os.makedirs(self.dir)
        s1 = os.path.join(self.dir, "stage1")
        os.makedirs(s1)
        shutil.copy2(os.path.join(IMAGE, "manifest"), os.path.join(s1, "manifest"))
        shutil.copytree(os.path.join(IMAGE, "rootfs"), os.path.join(s1, "rootfs"), symlinks=True)
        pm_apps = []
        for a in apps:
            app_rootfs(os.path.join(s1, "rootfs", "opt", "stage2", a["name"], "rootfs"))
            app = {"exec": a["exec"], "user": a.get("user", "0"), "group": a.get("group", "0"),
                   "workingDirectory": a.get("workingDirectory", "/"),
                   "environment": [{"name": k, "value": v} for k, v in a.get("env", {}).items()]}
            pm_apps.append({"name": a["name"], "image": {"id": "sha512-" + "0" * 64}, "app": app,
                            "mounts": a.get("mounts", [])})
        pm = {"acKind": "PodManifest", "acVersion": "0.8.11", "apps": pm_apps, "volumes": list(volumes)}
        with open(os.path.join(self.dir, "pod"), "w") as f:
            json.dump(pm, f)
        rt = {"net": "none", "interactive": False, "debug": False, "stage1Options": {}}
        for k, v in (runtime or {}).items():  # the flavour's own options go to stage1Options
            if k in ("accel", "hypervisor", "cpus", "memory"):
                rt["stage1Options"][k] = v
            else:
                rt[k] = v
        with open(os.path.join(self.dir, "runtime.json"), "w") as f:
            json.dump(rt, f)
        self.proc = None

    def entry(self, name):
        return os.path.join(self.dir, "stage1", "rootfs", "kvm", name)

    def start(self, env=None):
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        e = dict(os.environ, POD_LOCK_FD=str(fd), POD_STAGE1_ABI="1")
        e.update(env or {})
        self.proc = subprocess.Popen([self.entry("run"), self.uuid], cwd=self.dir, env=e, pass_fds=[fd],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.close(fd)  # from now on only the run entrypoint holds the lock
        return self.proc

    def wait(self, timeout=VM_TIMEOUT):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail("pod did not finish in %ss\n%s\n%s" % (timeout, err, self.console()))
        self.stdout, self.stderr = out, err
        return self.proc.returncode

    def run(self, env=None, timeout=VM_TIMEOUT):
        self.start(env)
        return self.wait(timeout)

    def console(self):
        try:
            with open(os.path.join(self.dir, "stage1-state", "console.log")) as f:
                return f.read()
        except OSError:
            return ""

    def read(self, rel):
        with open(os.path.join(self.dir, rel)) as f:
            return f.read()

    def status(self, app):
        return json.loads(self.read("appstatus/" + app))

    def wait_file(self, rel, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            if os.path.exists(os.path.join(self.dir, rel)):
                return True
            if self.proc and self.proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def wait_log(self, app, text, timeout=60):
        """Wait until the app's log shows `text` (the app is past its setup)."""
        end = time.time() + timeout
        while time.time() < end:
            try:
                if text in self.read("logs/%s.log" % app):
                    return True
            except OSError:
                pass
            if self.proc and self.proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def tool(self, name, *args, timeout=60, input=None):
        return subprocess.run([self.entry(name), *args], cwd=self.dir, capture_output=True, text=True,
                              timeout=timeout, input=input)

    def lock_free(self):
        return not lock_held_at(self.dir)

    def vmm_alive(self):
        try:
            pid = int(self.read("pid"))
        except (OSError, ValueError):
            return False
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return self.uuid.encode() in f.read()
        except OSError:
            return False

    def pod_processes(self):
        found = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    if self.uuid.encode() in f.read():
                        found.append(int(p))
            except OSError:
                pass
        return found

    def mounts(self):
        with open("/proc/self/mountinfo") as f:
            return [l for l in f if self.dir in l]

    def gc(self):
        return self.tool("gc", self.uuid)


@pytest.fixture
def kvm(tmp_path):
    base = tmp_path
    pods = []

    def make(*a, **kw):
        p = KvmPod(str(base), *a, **kw)
        pods.append(p)
        return p

    yield make
    for p in pods:
        if p.proc and p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()
        p.gc()


def assert_clean(p):
    assert p.lock_free(), "the pod lock is still held"
    r = p.gc()
    assert r.returncode == 0, r.stderr
    assert p.gc().returncode == 0  # idempotent
    assert not p.vmm_alive()
    assert p.pod_processes() == []
    assert p.mounts() == []
    assert not [n for n in os.listdir(os.path.join(p.dir, "stage1-state")) if n.endswith(".sock")]


def test_image_manifest_and_aci():
    with open(os.path.join(IMAGE, "manifest")) as f:
        m = json.load(f)
    ann = {a["name"]: a["value"] for a in m["annotations"]}
    assert ann["pod/stage1/flavor"] == "kvm"
    assert ann["pod/stage1/interface-version"] == "1"
    for ep in ("run", "enter", "stop", "gc"):
        assert os.access(os.path.join(IMAGE, "rootfs", ann["pod/stage1/" + ep].lstrip("/")), os.X_OK)
    names = subprocess.run(["tar", "tf", ACI], capture_output=True, text=True, check=True).stdout.split()
    assert names[0] == "manifest" and "rootfs/kvm/initramfs.img" in names and "rootfs/init" in names
    listing = subprocess.run(["tar", "tvf", ACI], capture_output=True, text=True, check=True).stdout
    assert all(" 0/0 " in l for l in listing.splitlines())


def test_unit_tests():
    exe = os.path.join(BUILD, "stage1-kvm", "kvm-unit-tests")
    if not os.path.exists(exe):
        pytest.skip("doctest not available")
    r = subprocess.run([exe, "--no-intro"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_one_app_exit_code_env_user_workdir(kvm):
    p = kvm([{"name": "app", "user": "1000", "group": "1000", "workingDirectory": "/work",
              "env": {"GREETING": "hello vm"},
              "exec": ["/bin/sh", "-c", "echo $GREETING; id -u; id -g; pwd; exit 7"]}])
    rc = p.run()
    assert rc == 7, p.stderr + p.console()
    assert p.status("app") == {"exitCode": 7}
    assert p.read("logs/app.log").split("\n")[:4] == ["hello vm", "1000", "1000", "/work"]
    assert int(p.read("pid")) > 0
    assert os.path.exists(os.path.join(p.dir, "ready"))
    assert_clean(p)


def test_two_apps_first_failure_in_manifest_order(kvm):
    p = kvm([{"name": "a", "exec": ["/bin/sh", "-c", "sleep 1; exit 0"]},
             {"name": "b", "exec": ["/bin/sh", "-c", "exit 3"]}])
    assert p.run(env={"POD_KVM_ACCEL": "tcg"}) == 3, p.stderr + p.console()
    assert p.status("a") == {"exitCode": 0} and p.status("b") == {"exitCode": 3}
    assert_clean(p)


def test_host_volume_read_and_written(kvm, tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "in.txt").write_text("from the host\n")
    p = kvm([{"name": "app", "exec": ["/bin/sh", "-c", "cat /data/in.txt > /data/out.txt; echo guest >> /data/out.txt"],
              "mounts": [{"volume": "data", "path": "/data"}]}],
            volumes=[{"name": "data", "kind": "host", "source": str(vol)}])
    assert p.run() == 0, p.stderr + p.console()
    assert (vol / "out.txt").read_text() == "from the host\nguest\n"
    assert_clean(p)


def test_enter_and_graceful_stop(kvm):
    p = kvm([{"name": "app", "env": {"WHO": "app-env"},
              "exec": ["/bin/sh", "-c", "trap 'echo got TERM; exit 42' TERM; echo armed; while true; do sleep 0.2; done"]}])
    p.start()
    assert p.wait_log("app", "armed"), p.console()
    r = p.tool("enter", "--app=app", p.uuid, "--", "/bin/sh", "-c", "echo $WHO; cat; echo err >&2; exit 5",
               input="piped stdin\n")
    assert r.returncode == 5, r.stderr + p.console()
    assert r.stdout == "app-env\npiped stdin\n"
    assert r.stderr == "err\n"
    r = p.tool("enter", "--app=nope", p.uuid, "--", "true")
    assert r.returncode == 2, r.stderr  # the pod init's usage error, passed through
    assert r.stderr == "pod-init: no app named nope in this pod\n"
    r = p.tool("stop", p.uuid)
    assert r.returncode == 0, r.stderr
    assert p.wait() == 42, p.stderr + p.console()
    assert p.status("app") == {"exitCode": 42}
    assert "got TERM" in p.read("logs/app.log")
    assert_clean(p)


def test_sigterm_to_run_is_a_graceful_stop(kvm):
    p = kvm([{"name": "app", "exec": ["/bin/sh", "-c", "trap 'exit 9' TERM; echo armed; while true; do sleep 0.2; done"]}])
    p.start()
    assert p.wait_log("app", "armed"), p.console()
    p.proc.send_signal(signal.SIGTERM)
    assert p.wait() == 9, p.stderr + p.console()
    assert_clean(p)


def test_stop_force_kills_the_vmm(kvm):
    p = kvm([{"name": "app", "exec": ["/bin/sh", "-c", "while true; do sleep 1; done"]}])
    p.start()
    assert p.wait_file("ready"), p.console()
    assert p.vmm_alive()
    r = p.tool("stop", "--force", p.uuid)
    assert r.returncode == 0, r.stderr
    assert p.wait(timeout=30) == 128 + 9
    assert "stop --force" in p.read("failure")
    assert_clean(p)


def test_gc_kills_a_leftover_vmm(kvm):
    """run killed with SIGKILL: its VMM dies with it (PDEATHSIG); gc cleans what is left."""
    p = kvm([{"name": "app", "exec": ["/bin/sh", "-c", "while true; do sleep 1; done"]}])
    p.start()
    assert p.wait_file("pid"), p.stderr
    p.proc.kill()
    p.proc.wait()
    assert_clean(p)


def test_bad_runtime_fails_with_125(kvm):
    p = kvm([{"name": "app", "exec": ["/bin/true"]}], runtime={"accel": "warp"})
    assert p.run(timeout=30) == 125
    assert "invalid accel" in p.read("failure")
    assert p.lock_free()


def test_lkvm(kvm):
    if shutil.which("lkvm") is None:
        pytest.skip("lkvm (kvmtool) is not on PATH; it is not packaged in Debian")
    if not os.path.exists("/dev/kvm"):
        pytest.skip("lkvm needs /dev/kvm")
    with open(os.path.join(IMAGE, "rootfs", "kvm", "initramfs.json")) as f:
        if "9p" not in json.load(f)["modules"]:
            pytest.skip("the guest kernel has no 9p, which lkvm needs to share the pod dir")
    p = kvm([{"name": "app", "exec": ["/bin/sh", "-c", "exit 4"]}], runtime={"hypervisor": "lkvm"})
    assert p.run() == 4, p.stderr + p.console()
    assert_clean(p)


def test_kvm_accel_when_usable(kvm):
    probe = subprocess.run([os.path.join(IMAGE, "rootfs", "kvm", "stage1-kvm"), "probe"], capture_output=True,
                           text=True, timeout=60)
    if not probe.stdout.startswith("kvm"):
        pytest.skip("KVM not usable here: " + probe.stdout.strip())
    p = kvm([{"name": "app", "exec": ["/bin/sh", "-c", "exit 6"]}], runtime={"accel": "kvm"})
    assert p.run() == 6, p.stderr + p.console()
    assert_clean(p)


def test_user_mode_network_reaches_the_host_and_none_has_no_nic(kvm, tmp_path):
    # A server on the host's loopback, reached through qemu's user-mode NAT (the host is 10.0.2.2).
    import http.server
    import threading
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "f.txt").write_text("hello from the host\n")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path / "www"))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        script = (f"wget -q -O - http://10.0.2.2:{port}/f.txt && ping -c1 -W5 127.0.0.1 >/dev/null && "
                  "grep -q '^nameserver 10.0.2.3' /etc/resolv.conf && ls /sys/class/net")
        p = kvm([{"name": "app", "exec": ["/bin/sh", "-c", script]}], runtime={"net": "host"})
        assert p.run() == 0, p.stderr + p.read("logs/app.log") + p.console()
        assert p.read("logs/app.log") == "hello from the host\neth0\nlo\n"
        assert_clean(p)
    finally:
        server.shutdown()
    p = kvm([{"name": "app", "exec": ["/bin/sh", "-c", "ls /sys/class/net; ping -c1 -W5 127.0.0.1 >/dev/null"]}],
            runtime={"net": "none"})
    assert p.run() == 0, p.stderr + p.console()
    assert p.read("logs/app.log") == "lo\n"  # no NIC at all; loopback up
    assert_clean(p)


def test_user_mode_network_gets_a_loopback_metadata_url_through_the_gateway(kvm, tmp_path):
    # runtime.json's metadataURL on the host's loopback (pod's default service URL) is not the guest's loopback:
    # the apps get it through qemu's gateway, 10.0.2.2 (found by the appc ace-validator, whose main phase could not
    # connect). The host server sees the URL's path unchanged.
    import http.server
    import threading
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(self.path)
            body = b"pod-uuid"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=us-ascii")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        url = f"http://127.0.0.1:{port}/0f0e0d0c-0b0a-4908-8706-050403020100/{'ab' * 16}"
        script = 'echo "$AC_METADATA_URL"; wget -q -O - "$AC_METADATA_URL/acMetadata/v1/pod/uuid"; echo'
        p = kvm([{"name": "app", "exec": ["/bin/sh", "-c", script]}], runtime={"net": "host", "metadataURL": url})
        assert p.run() == 0, p.stderr + p.read("logs/app.log") + p.console()
        assert p.read("logs/app.log") == url.replace("127.0.0.1", "10.0.2.2") + "\npod-uuid\n"
        assert seen == [url[len(f"http://127.0.0.1:{port}"):] + "/acMetadata/v1/pod/uuid"]
        assert_clean(p)
    finally:
        server.shutdown()
