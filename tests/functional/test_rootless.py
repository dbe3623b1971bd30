"""Rootless pods (Documentation/rootless.md): an unprivileged user runs pods with the native stage1 in a user
namespace mapped from /etc/subuid and /etc/subgid, with their own data dir."""
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tarfile
import time

import pytest

from acis import BUSYBOX_ACI, file_entry
from conftest import POD_BIN

USER = "podrltest"        # with /etc/subuid and /etc/subgid ranges (useradd gives them)
SINGLE = "podrlsingle"    # a system user: no ranges, a single-uid mapping


def _skip_reason():
    if os.geteuid() != 0:
        return "the fixture creates users: needs root"
    for tool in ("useradd", "userdel", "setpriv", "newuidmap", "newgidmap"):
        if not shutil.which(tool):
            return f"{tool} is missing (scripts/install-deps: uidmap, passwd, util-linux)"
    if open("/proc/sys/user/max_user_namespaces").read().strip() == "0":
        return "user namespaces are disabled (user.max_user_namespaces=0)"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


class User:
    def __init__(self, name):
        pw = pwd.getpwnam(name)
        self.name, self.uid, self.gid, self.home = name, pw.pw_uid, pw.pw_gid, pw.pw_dir
        self.dir = os.path.join(self.home, "store")

    def env(self, extra=None):
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home, "LANG": "C.UTF-8"}
        e.update(extra or {})
        return e

    def cmd(self, *argv, timeout=60, env=None, check=None, **kw):
        r = subprocess.run(["setpriv", "--reuid", self.name, "--regid", str(self.gid), "--init-groups", *argv],
                           capture_output=True, text=True, timeout=timeout, env=self.env(env), cwd=self.home, **kw)
        if check is not None and r.returncode != check:
            raise AssertionError(f"{argv} exited {r.returncode}, expected {check}:\n{r.stdout}\n{r.stderr}")
        return r

    def pod(self, *args, dir=True, **kw):
        return self.cmd(POD_BIN, *(["--dir", self.dir] if dir else []), *args, **kw)

    def popen_pod(self, *args):
        return subprocess.Popen(["setpriv", "--reuid", self.name, "--regid", str(self.gid), "--init-groups", POD_BIN,
                                 "--dir", self.dir, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env(), cwd=self.home)

    def processes(self):
        """The user's live processes (zombies re-parented to the host's PID 1 are its to reap)."""
        r = subprocess.run(["ps", "-u", str(self.uid), "-o", "stat=,pid=,args="], capture_output=True, text=True)
        return [l for l in r.stdout.splitlines() if l.strip() and not l.lstrip().startswith("Z")]

    def subuid(self):
        for line in open("/etc/subuid"):
            f = line.strip().split(":")
            if f[0] == self.name:
                return int(f[1]), int(f[2])
        return None


def _make_user(name, system):
    subprocess.run(["userdel", "-r", name], capture_output=True)
    subprocess.run(["useradd", "-m", "-s", "/bin/sh", *(["-r"] if system else []), name], check=True,
                   capture_output=True)
    u = User(name)
    os.chmod(u.home, 0o700)
    return u


def _drop_user(u):
    subprocess.run(["pkill", "-KILL", "-u", str(u.uid)], capture_output=True)
    time.sleep(0.2)
    subprocess.run(["userdel", "-r", u.name], capture_output=True)


@pytest.fixture(scope="module")
def user():
    u = _make_user(USER, system=False)
    if not u.subuid():
        _drop_user(u)
        pytest.skip("useradd gave no /etc/subuid range (SUB_UID_* in /etc/login.defs)")
    # The build dir must be readable by the user: the pod binary and the stage1 image are used from there.
    r = u.cmd("test", "-x", POD_BIN, "-a", "-r", BUSYBOX_ACI)
    if r.returncode != 0:
        _drop_user(u)
        pytest.skip(f"{POD_BIN} or {BUSYBOX_ACI} is not readable by an unprivileged user")
    yield u
    u.pod("gc", "--grace-period=0", "--expire-prepared=0")
    _drop_user(u)


@pytest.fixture(scope="module")
def single():
    u = _make_user(SINGLE, system=True)
    assert u.subuid() is None
    yield u
    u.pod("gc", "--grace-period=0", "--expire-prepared=0")
    _drop_user(u)


def run(u, *app, flags=("--net=none",), **kw):
    return u.pod("run", *flags, "--insecure-options=image", BUSYBOX_ACI, *app, **kw)


def sh(script):
    return ("--exec", "/bin/sh", "--", "-c", script)


def http_get_until(port, marker, timeout):
    """GET /index.html from 127.0.0.1:port until the reply holds `marker` (the pod's server is up): the reply,
    or None at the timeout."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                c.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := c.recv(4096):
                    data += chunk
                if marker in data:
                    return data
        except OSError:
            pass
        time.sleep(0.2)
    return None


def uuid_of_running(u):
    for p in json.loads(u.pod("list", "--format=json", check=0).stdout):
        if p["state"] == "running":
            return p["uuid"]
    return None


def wait_running(u, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        uuid = uuid_of_running(u)
        if uuid and "pid=" in u.pod("status", uuid).stdout:
            return uuid
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("the pod did not start")


def test_rootless_run_exit_code_env_and_mapping(user):
    r = run(user, "--set-env=GREETING=hi", *sh("echo $GREETING; id -u; cat /proc/self/uid_map; exit 7"))
    assert r.returncode == 7, r.stderr
    out = r.stdout.split()
    assert out[:2] == ["hi", "0"]
    start, count = user.subuid()
    # uid 0 is the user; 1.. the subuid range
    assert out[2:8] == ["0", str(user.uid), "1", "1", str(start), str(count)]


def test_rootless_status_shows_rootfs_mode_and_mapping(user, tmp_path):
    uf = os.path.join(user.home, "uuid")
    run(user, *sh("true"), flags=("--net=none", f"--uuid-file-save={uf}"), check=0)
    uuid = open(uf).read().strip()
    st = user.pod("status", uuid, check=0).stdout.splitlines()
    assert "rootfs=overlay" in st
    start, count = user.subuid()
    assert f"user-namespace=0->{user.uid}+1, 1->{start}+{count}" in st
    j = json.loads(user.pod("status", "--format=json", uuid, check=0).stdout)
    assert j["rootfsMode"] == "overlay" and j["userNamespace"].startswith(f"0->{user.uid}+1")
    r = run(user, *sh("true"), flags=("--net=none", "--no-overlay", f"--uuid-file-save={uf}"), check=0)
    assert "rootfs=copy" in user.pod("status", open(uf).read().strip(), check=0).stdout.splitlines()


def test_rootless_host_volume_files_belong_to_user(user):
    vol = os.path.join(user.home, "vol")
    user.cmd("mkdir", "-p", vol, check=0)
    user.cmd("sh", "-c", f"echo mine > {vol}/from-host", check=0)
    r = run(user, "--mount=volume=v,target=/v", *sh("stat -c %u /v/from-host; echo out > /v/from-pod; mkdir /v/d"),
            flags=("--net=none", f"--volume=v,kind=host,source={vol}"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0"]  # the user's file is uid 0's in the pod
    for f in ("from-pod", "d"):
        st = os.stat(os.path.join(vol, f))
        assert (st.st_uid, st.st_gid) == (user.uid, user.gid)
    assert open(os.path.join(vol, "from-pod")).read() == "out\n"


def test_rootless_image_owners_kept_through_mapping(user, tmp_path):
    aci = os.path.join(user.home, "owned.aci")
    shutil.copy(BUSYBOX_ACI, aci)
    with tarfile.open(aci, "a") as t:
        ti, data = file_entry("rootfs/owned", b"x", uid=1234, gid=2345)
        import io
        t.addfile(ti, io.BytesIO(data))
    os.chown(aci, user.uid, user.gid)
    r = user.pod("run", "--net=none", "--insecure-options=image", aci, *sh("stat -c '%u %g' /owned"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1234", "2345"]
    start, _ = user.subuid()
    # On the host: the image's uid N (N > 0) is subuid start + N - 1.
    found = subprocess.run(["find", user.dir, "-name", "owned", "-type", "f", "-printf", "%U %G\n"],
                           capture_output=True, text=True).stdout.split("\n")
    assert f"{start + 1233} {start + 2344}" in found


def test_rootless_enter_stop_and_gc_leave_nothing(user):
    p = user.popen_pod("run", "--net=none", "--insecure-options=image", BUSYBOX_ACI, "--exec", "/bin/sleep", "--", "60")
    try:
        uuid = wait_running(user, p)
        r = user.pod("enter", uuid, "--", "/bin/sh", "-c", "id -u; cat /proc/1/cmdline | tr '\\0' ' '")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split()[0] == "0"
        r = user.pod("pause", uuid)  # no cgroup to freeze: the stage1 refuses before anything changes
        assert (r.returncode, r.stderr) == (1, f"pod: stage1 pause of pod {uuid} refused: cannot pause: pod {uuid} is "
                                               "in no cgroup to freeze (a rootless pod has none of its own, "
                                               "Documentation/rootless.md; otherwise neither cgroup2 nor the v1 "
                                               "freezer was mounted when it started)\n")
        assert "state=running" in user.pod("status", uuid).stdout
        assert not os.path.exists(os.path.join(user.dir, "pods", "run", uuid, "paused"))
        assert user.pod("stop", uuid).returncode == 0
        p.wait(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert "state=exited" in user.pod("status", uuid).stdout
    assert user.pod("gc", "--grace-period=0").returncode == 0
    assert user.pod("status", uuid).returncode == 3
    assert user.processes() == []
    mounts = open("/proc/self/mountinfo").read()
    assert user.dir not in mounts


def test_rootless_kill9_of_init_then_gc_leaves_nothing(user):
    p = user.popen_pod("run", "--net=none", "--insecure-options=image", BUSYBOX_ACI, "--exec", "/bin/sleep", "--", "60")
    try:
        uuid = wait_running(user, p)
        pid = int([l for l in user.pod("status", uuid).stdout.splitlines() if l.startswith("pid=")][0][4:])
        os.kill(pid, signal.SIGKILL)
        p.wait(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert user.pod("gc", "--grace-period=0").returncode == 0
    assert user.pod("status", uuid).returncode == 3
    assert user.processes() == []
    assert not os.listdir(os.path.join(user.dir, "pods", "run"))


def test_rootless_kill9_of_run_keeps_pod_then_stop_and_gc(user):
    p = user.popen_pod("run", "--net=none", "--insecure-options=image", BUSYBOX_ACI, "--exec", "/bin/sleep", "--", "60")
    uuid = wait_running(user, p)
    p.kill()  # the run entrypoint (stage0 exec'ed it): the init keeps the pod
    p.wait(timeout=10)
    assert "state=running" in user.pod("status", uuid).stdout
    assert user.pod("stop", uuid).returncode == 0
    deadline = time.time() + 20
    while "state=running" in user.pod("status", uuid).stdout and time.time() < deadline:
        time.sleep(0.1)
    assert user.pod("gc", "--grace-period=0").returncode == 0
    assert user.processes() == []


def test_rootless_limit_refused_with_reason(user):
    r = run(user, "--memory=64M", *sh("true"))
    assert r.returncode == 1, r.stderr
    assert "resource limits" in r.stderr and "cgroup" in r.stderr
    assert os.listdir(os.path.join(user.dir, "pods", "prepare")) == []


def test_rootless_refuses_nspawn_cni_and_low_ports(user):
    r = run(user, *sh("true"), flags=("--net=none", "--stage1-flavor=nspawn"))
    assert r.returncode == 1
    assert "cannot run pods without root" in r.stderr and "pod/stage1/rootless=true" in r.stderr
    r = run(user, *sh("true"), flags=("--net=default",))
    assert r.returncode == 2 and "CNI networks need root" in r.stderr
    r = run(user, *sh("true"), flags=("--net=pasta", "--publish=80:80"))
    assert r.returncode == 2 and "only ports from" in r.stderr


def test_rootless_host_network(user):
    r = run(user, *sh("cat /proc/net/dev | wc -l; ls /sys/class/net | grep -c ."), flags=("--net=host",))
    assert r.returncode == 0, r.stderr
    host = len(os.listdir("/sys/class/net"))
    assert int(r.stdout.split()[1]) == host


@pytest.mark.skipif(not shutil.which("pasta"), reason="pasta (Debian's passt) is not installed")
def test_rootless_pasta_published_port(user):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = user.popen_pod("run", f"--publish={port}:8080", "--insecure-options=image", BUSYBOX_ACI,
                       *sh("mkdir /w; echo served > /w/index.html; exec httpd -f -p 8080 -h /w"))
    try:
        uuid = wait_running(user, p)
        assert f"network-pasta=eth0 - - {port}->8080/tcp" in user.pod("status", uuid).stdout.splitlines()
        assert http_get_until(port, b"served", timeout=15) is not None
        assert user.pod("stop", uuid).returncode == 0
        p.wait(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    # pasta quits with the pod's init (it polls for the namespace going away)
    deadline = time.time() + 5
    while any("pasta" in l for l in user.processes()) and time.time() < deadline:
        time.sleep(0.1)
    assert [l for l in user.processes() if "pasta" in l] == []


def test_rootless_default_data_dir_and_separation(user, single, pod):
    e = {"XDG_DATA_HOME": ""}
    r = user.cmd(POD_BIN, "list", env=e)
    assert r.returncode == 0, r.stderr
    d = os.path.join(user.home, ".local", "share", "pod")
    assert os.stat(d).st_mode & 0o777 == 0o700 and os.stat(d).st_uid == user.uid
    xdg = os.path.join(user.home, "xdg")
    assert user.cmd(POD_BIN, "list", env={"XDG_DATA_HOME": xdg}).returncode == 0
    assert os.path.isdir(os.path.join(xdg, "pod", "pods"))
    # Another user cannot reach this user's store, nor root's.
    r = single.cmd(POD_BIN, "--dir", user.dir, "list")
    assert r.returncode == 1 and f"cannot create data directory {user.dir}: Permission denied" in r.stderr, r.stderr
    r = single.cmd("ls", user.dir)
    assert r.returncode == 2 and "Permission denied" in r.stderr, r.stderr
    root_store = pod.dir
    pod.run("list", check=0)
    r = user.cmd("ls", os.path.join(root_store, "pods", "run"))
    assert r.returncode == 2 and "Permission denied" in r.stderr, r.stderr


def test_rootless_single_uid_mapping_without_ranges(single):
    r = run(single, *sh("id -u; cat /proc/self/uid_map"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "0", str(single.uid), "1"]
    # An app user other than 0 has no uid to be: refused when it starts.
    r = run(single, "--user=1000", *sh("true"))
    assert r.returncode == 125 and "setuid 1000: Invalid argument" in r.stderr


@pytest.mark.parametrize("point", ["image-import-extracted", "create:after-mkdir", "prepare:before-done",
                                   "to-exited-garbage:after-mark", "delete:before-remove"])
def test_rootless_kill9_at_crashpoint_then_gc_leaves_nothing(user, point):
    user.dir = os.path.join(user.home, "c" + point[:4])  # short: the pod's sockets have a path limit
    try:
        if point.startswith(("to-exited", "delete")):
            assert run(user, *sh("true")).returncode == 0
            r = user.pod("gc", "--grace-period=0", env={"POD_CRASHPOINT": point})
        else:
            r = run(user, *sh("true"), env={"POD_CRASHPOINT": point})
        assert r.returncode == -signal.SIGKILL, r.stderr
        embryos = os.path.join(user.dir, "pods", "embryo")
        for u in os.listdir(embryos):  # gc leaves an embryo 60 s to its creator: age it
            user.cmd("sh", "-c", f"echo {int((time.time() - 3600) * 1e9)} > {embryos}/{u}/created-at", check=0)
        assert user.pod("gc", "--grace-period=0", "--expire-prepared=0").returncode == 0
        for d in os.listdir(os.path.join(user.dir, "pods")):
            assert os.listdir(os.path.join(user.dir, "pods", d)) == [], d
        assert os.listdir(os.path.join(user.dir, "tmp")) == []  # staging (of the extraction too) rolled back
        assert user.processes() == []
        assert user.dir not in open("/proc/self/mountinfo").read()
        assert run(user, *sh("exit 4")).returncode == 4  # the store goes on working
    finally:
        user.pod("gc", "--grace-period=0", "--expire-prepared=0")
        user.dir = os.path.join(user.home, "store")


def test_rootless_user_config_layer(user):
    cfg = os.path.join(user.home, ".config", "pod")
    store = os.path.join(user.home, "cfgstore")
    user.cmd("mkdir", "-p", cfg, check=0)
    user.cmd("sh", "-c", f"echo '{{\"paths\": {{\"dataDir\": \"{store}\"}}}}' > {cfg}/pod.json", check=0)
    try:
        assert user.cmd(POD_BIN, "list").returncode == 0
        assert os.path.isdir(os.path.join(store, "pods"))
        user.cmd("sh", "-c", f"echo '{{\"paths\": {{\"dataDir\": 1}}}}' > {cfg}/pod.json", check=0)
        r = user.cmd(POD_BIN, "list")
        assert r.returncode == 1 and f"configuration {cfg}/pod.json" in r.stderr
    finally:
        user.cmd("rm", "-rf", cfg, store)


def test_rootless_stats_count_the_pod_init_process_tree(user):
    p = user.popen_pod("run", "--net=none", "--insecure-options=image", BUSYBOX_ACI,
                       *sh("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; exec sleep 600"))
    try:
        uuid = wait_running(user, p)
        deadline = time.time() + 30
        st = None
        while time.time() < deadline:  # until the busy loop has used CPU time the kernel counted
            st = json.loads(user.pod("stats", "--format=json", uuid, check=0).stdout)
            if st["pod"].get("cpuNs", 0) > 0 and st["apps"][0]["cpuNs"] > 0:
                break
            time.sleep(0.2)
        # No cgroup: the pod's numbers are its init's process tree (the init and the app), each app's its own.
        assert st["pod"]["source"] == "processes" and st["pod"]["pids"] == 2
        assert st["pod"]["cpuNs"] >= st["apps"][0]["cpuNs"] > 0
        assert st["pod"]["memoryBytes"] > st["apps"][0]["memoryBytes"] > 0
        assert (st["apps"][0]["source"], st["apps"][0]["pids"]) == ("processes", 1)
        assert user.pod("stop", uuid, timeout=60).returncode == 0
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
