"""The nspawn and native stage1s driven directly through their ABI (real systemd-nspawn, as root).

Every test runs for both flavours: they share the pod init and the enter, stop and gc entrypoints, and
differ in how run sets up the pod (systemd-nspawn, or its own namespaces and mounts)."""
import json
import os
import signal
import subprocess
import tempfile
import time

import pytest

import stage1_helpers as h
from stage1_helpers import app

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


@pytest.fixture(params=["nspawn", "native"])
def flavour(request):
    if request.param == "nspawn" and h.NSPAWN is None:
        pytest.skip("systemd-nspawn is not installed")
    if not os.path.exists(h.STAGE1_ROOTFS_OF[request.param]):
        pytest.skip(f"stage1 {request.param} not built")
    return request.param


@pytest.fixture
def pods(flavour):
    base = tempfile.mkdtemp(prefix="pod-stage1-")
    made = []

    def make(apps, **kw):
        kw.setdefault("stage1_rootfs", h.STAGE1_ROOTFS_OF[flavour])
        p = h.make_pod(base, apps, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        h.entrypoint(p, "gc", p.uuid)
    subprocess.run(["umount", "-R", "-l", base], capture_output=True)
    subprocess.run(["rm", "-rf", "--one-file-system", base])


def sh(name, script, **kw):
    return app(name, ["sh", "-c", script], **kw)


def test_exit_codes_records_and_logs(pods):
    for script, code, sig in [("echo out; echo err >&2; exit 0", 0, None), ("exit 3", 3, None),
                              ("kill -9 $$", 137, 9)]:
        p = pods([sh("main", script)])
        r = h.run_pod(p)
        assert r.returncode == code, r.stderr
        rec = p.app_status("main")
        assert rec["exitCode"] == code and rec.get("signal") == sig
        assert p.exists("ready") and not p.exists("failure")
        if code == 0:
            assert p.log("main") == "out\nerr\n"


def test_environment(pods):
    p = pods([sh("web", "env", env={"FOO": "bar baz", "container": "mine"})])
    assert h.run_pod(p).returncode == 0
    env = dict(l.split("=", 1) for l in p.log("web").splitlines() if "=" in l)
    assert env["AC_APP_NAME"] == "web"
    assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert env["FOO"] == "bar baz"
    assert env["container"] == "mine"  # the app's environment wins
    assert "POD_INIT_NOTIFY" not in env and "POD_LOCK_FD" not in env


def test_path_from_app_environment_is_searched(pods):
    p = pods([app("main", ["hello"], env={"PATH": "/opt/bin"})])
    os.makedirs(os.path.join(p.app_rootfs("main"), "opt", "bin"))
    with open(os.path.join(p.app_rootfs("main"), "opt", "bin", "hello"), "w") as f:
        f.write("#!/bin/sh\necho hello from $PATH\n")
    os.chmod(os.path.join(p.app_rootfs("main"), "opt", "bin", "hello"), 0o755)
    assert h.run_pod(p).returncode == 0
    assert p.log("main") == "hello from /opt/bin\n"


@pytest.mark.parametrize("user,group,expect", [
    ("user", "users", "1000 100 /home/user"),
    ("4321", "1234", "4321 1234 /"),
    ("root", "root", "0 0 /root"),
])
def test_user_and_group(pods, user, group, expect):
    p = pods([sh("main", 'echo $(id -u) $(id -g) $HOME', user=user, group=group)])
    assert h.run_pod(p).returncode == 0
    assert p.log("main").strip() == expect


def test_supplementary_gids(pods):
    p = pods([sh("main", "id -G", user="user", group="user", supplementary_gids=[27, 100])])
    assert h.run_pod(p).returncode == 0
    assert sorted(p.log("main").split()) == ["100", "1000", "27"]


def test_unknown_user_fails_clearly(pods):
    p = pods([sh("main", "true", user="nosuchuser")])
    r = h.run_pod(p)
    assert r.returncode == 125
    assert 'user "nosuchuser" not found' in p.read("failure")


def test_working_directory(pods):
    p = pods([sh("main", "pwd", workdir="/home/user")])
    assert h.run_pod(p).returncode == 0
    assert p.log("main") == "/home/user\n"
    p = pods([sh("main", "pwd", workdir="/no/such/dir")])
    assert h.run_pod(p).returncode == 125
    assert "working directory /no/such/dir does not exist" in p.read("failure")


def test_missing_executable_fails_clearly(pods):
    p = pods([app("main", ["no-such-program"])])
    r = h.run_pod(p)
    assert r.returncode == 125
    assert "no-such-program not found in PATH" in p.read("failure")
    assert not p.exists("ready")


def test_two_apps_exit_status_is_first_failing_in_manifest_order(pods):
    p = pods([sh("a", "exit 0"), sh("b", "sleep 0.3; exit 4"), sh("c", "exit 5")])
    r = h.run_pod(p)
    assert r.returncode == 4
    assert [p.app_status(n)["exitCode"] for n in "abc"] == [0, 4, 5]


def test_apps_share_pid_namespace_and_hostname(pods):
    # b waits (bounded) for a's sleep: the apps start concurrently.
    see_a = "for i in $(seq 100); do ps -o comm | grep -q sleep && break; sleep 0.05; done; ps -o comm | grep -c sleep"
    p = pods([sh("a", "hostname; sleep 2"), sh("b", "hostname; " + see_a)],
             runtime={"hostname": "web1.example"})
    assert h.run_pod(p).returncode == 0
    assert p.log("a") == "web1.example\n"
    assert p.log("b") == "web1.example\n1\n"


def test_host_and_empty_volumes(pods, tmp_path):
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "data").write_text("from host\n")
    volumes = [{"name": "rw", "kind": "host", "source": str(rw)},
               {"name": "ro", "kind": "host", "source": str(ro), "readOnly": True},
               {"name": "scratch", "kind": "empty"}]
    writer = sh("writer", "echo hi > /mnt/rw/out && cat /mnt/ro/data && (touch /mnt/ro/x || echo ro-ok) "
                          "&& echo shared > /srv/scratch/f",
                mounts={"rw": "/mnt/rw", "ro": "/mnt/ro", "scratch": "/srv/scratch"})
    reader = sh("reader", "sleep 0.5; cat /var/scratch/f", mounts={"scratch": "/var/scratch"})
    p = pods([writer, reader], volumes=volumes)
    r = h.run_pod(p)
    assert r.returncode == 0, p.log("writer") + r.stderr
    assert (rw / "out").read_text() == "hi\n"
    assert "from host\n" in p.log("writer") and "ro-ok" in p.log("writer")
    assert not (ro / "x").exists()
    assert p.log("reader") == "shared\n"
    assert p.read("volumes", "scratch", "f") == "shared\n"


def test_mount_target_symlinks_resolve_inside_the_rootfs(pods, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    vol = [{"name": "scratch", "kind": "empty"}]
    # An absolute symlink climbing out: resolved inside the app's rootfs (here to its /tmp).
    name = "vol-" + os.path.basename(str(tmp_path))
    p = pods([sh("main", f"test -d /tmp/{name} && echo inside", mounts={"scratch": f"/link/{name}"})], volumes=vol)
    os.symlink("/../../../../../../tmp", os.path.join(p.app_rootfs("main"), "link"))
    assert h.run_pod(p).returncode == 0, p.read("failure") if p.exists("failure") else ""
    assert p.log("main") == "inside\n"
    assert not os.path.exists("/tmp/" + name)
    # A relative one to a host path that does not exist inside: refused, nothing created outside.
    p = pods([sh("main", "true", mounts={"scratch": "/escape/target"})], volumes=vol)
    os.symlink("../../../../../../../../" + str(outside).lstrip("/"), os.path.join(p.app_rootfs("main"), "escape"))
    assert h.run_pod(p).returncode == 125
    assert "escape" in p.read("failure")
    assert list(outside.iterdir()) == []


def test_read_only_rootfs(pods):
    p = pods([sh("main", "touch /x 2>/dev/null && echo writable || echo read-only; echo ok > /tmp/y 2>/dev/null || true",
                 read_only_rootfs=True)])
    assert h.run_pod(p).returncode == 0
    assert p.log("main").startswith("read-only\n")


def test_etc_hosts_and_resolv_conf(pods):
    p = pods([sh("main", "cat /etc/hosts; echo ---; cat /etc/resolv.conf")],
             runtime={"hostname": "box", "dns": ["192.0.2.53"],
                      "hostsEntries": [{"ip": "192.0.2.10", "host": "db.internal"}]})
    assert h.run_pod(p).returncode == 0
    hosts, resolv = p.log("main").split("---\n")
    assert "127.0.0.1\tlocalhost" in hosts and "192.0.2.10\tdb.internal" in hosts and "box" in hosts
    assert resolv == "nameserver 192.0.2.53\n"
    # The image's own /etc/hosts is kept when nothing is asked for.
    p = pods([sh("main", "cat /etc/hosts")])
    with open(os.path.join(p.app_rootfs("main"), "etc", "hosts"), "w") as f:
        f.write("10.0.0.1 mine\n")
    assert h.run_pod(p).returncode == 0
    assert p.log("main") == "10.0.0.1 mine\n"


def test_seccomp_capabilities_and_no_new_privs(pods):
    p = pods([sh("main", "grep -E '^(Seccomp|NoNewPrivs|CapBnd):' /proc/self/status")])
    assert h.run_pod(p).returncode == 0
    st = dict(l.split(":\t") for l in p.log("main").splitlines())
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "1"
    appc_default = [29, 0, 1, 4, 3, 5, 27, 13, 10, 7, 6, 8, 31, 18]  # AUDIT_WRITE CHOWN ... SYS_CHROOT
    assert int(st["CapBnd"], 16) == sum(1 << c for c in appc_default)


def test_seccomp_blocks_what_nspawn_blocks(pods):
    # swapoff is not in nspawn's allow list: EPERM although CAP_SYS_ADMIN is retained.
    p = pods([sh("main", "mount -t tmpfs none /tmp && echo mount-ok; swapoff /tmp/none 2>&1; true",
                 isolators=[{"name": "os/linux/capabilities-retain-set",
                             "value": {"set": ["CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID"]}}])])
    assert h.run_pod(p).returncode == 0
    out = p.log("main")
    assert "mount-ok" in out  # @mount is allowed and CAP_SYS_ADMIN was retained
    assert "swapoff: /tmp/none: Operation not permitted" in out


def test_interactive_stdio_passthrough(pods):
    p = pods([sh("main", "read line; echo got $line")], runtime={"interactive": True})
    r = h.run_pod(p, "--interactive", input="hello\n")
    assert r.returncode == 0
    assert "got hello" in r.stdout
    assert p.log("main") == ""


def test_lock_held_while_running_pid_file_enter_and_graceful_stop(pods):
    p = pods([sh("main", "echo $$ > /tmp/pid; exec sleep 60"), sh("side", "exec sleep 60")])
    marker = os.path.join(p.app_rootfs("main"), "only-in-main")
    open(marker, "w").close()
    run = h.start_pod(p)
    try:
        h.wait_for(lambda: p.exists("ready"), what="ready")
        assert h.lock_held(p)
        pid = int(p.read("pid"))
        with open(f"/proc/{pid}/status") as f:
            assert any(l.startswith("NSpid:") and l.split()[-1] == "1" for l in f)
        r = h.entrypoint(p, "enter", "--app=main", p.uuid, "--", "sh", "-c",
                         "ls /only-in-main && echo $AC_APP_NAME && hostname && exit 7")
        assert r.returncode == 7, r.stderr
        assert r.stdout.splitlines()[:2] == ["/only-in-main", "main"]
        r = h.entrypoint(p, "enter", "--app=side", p.uuid, "--", "test", "-e", "/only-in-main")
        assert r.returncode == 1
        r = h.entrypoint(p, "stop", p.uuid)
        assert r.returncode == 0, r.stderr
        assert run.wait(timeout=20) == 128 + signal.SIGTERM
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert not h.lock_held(p)
    assert p.app_status("main") == {"exitCode": 143, "signal": 15}
    assert p.app_status("side")["exitCode"] == 143


def test_stop_escalates_to_sigkill_after_timeout(pods):
    p = pods([sh("main", "trap '' TERM; touch /tmp/trapped; while true; do sleep 0.1; done")],
             runtime={"stopTimeout": 1})
    run = h.start_pod(p)
    h.wait_for(lambda: os.path.exists(os.path.join(p.app_rootfs("main"), "tmp", "trapped")), what="trap")
    t = time.monotonic()
    assert h.entrypoint(p, "stop", p.uuid).returncode == 0
    assert run.wait(timeout=20) == 137
    assert 0.8 < time.monotonic() - t < 8
    assert p.app_status("main") == {"exitCode": 137, "signal": 9}


def test_stop_force(pods):
    p = pods([sh("main", "trap '' TERM; exec sleep 60")])
    run = h.start_pod(p)
    h.wait_for(lambda: p.exists("ready"), what="ready")
    assert h.entrypoint(p, "stop", "--force", p.uuid).returncode == 0
    assert run.wait(timeout=20) == 137
    assert "stop --force" in p.read("failure")
    assert not h.lock_held(p)


def test_sigterm_to_run_is_forwarded(pods):
    p = pods([sh("main", "exec sleep 60")])
    run = h.start_pod(p)
    h.wait_for(lambda: p.exists("ready"), what="ready")
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=20) == 143


def test_no_mounts_left_and_gc_is_idempotent(pods, tmp_path):
    host = tmp_path / "h"
    host.mkdir()
    p = pods([sh("main", "true", mounts={"h": "/h", "e": "/e"})],
             volumes=[{"name": "h", "kind": "host", "source": str(host)}, {"name": "e", "kind": "empty"}])
    before = h.mounts_below(p.path)
    assert h.run_pod(p).returncode == 0
    assert h.mounts_below(p.path) == before == []
    cgroups = [d for d in ("/sys/fs/cgroup/unified/pod/pod-" + p.uuid, "/sys/fs/cgroup/pod/pod-" + p.uuid,
                           "/sys/fs/cgroup/systemd/pod/pod-" + p.uuid) if os.path.isdir(d)]
    assert cgroups, "run puts the payload into the pod's own cgroup"
    for _ in range(2):
        r = h.entrypoint(p, "gc", p.uuid)
        assert r.returncode == 0, r.stderr
        assert not any(os.path.exists(d) for d in cgroups)


def test_bad_manifest_is_a_stage1_failure(pods):
    p = pods([sh("main", "true")])
    with open(p.file("pod"), "w") as f:
        f.write("{not json")
    r = h.run_pod(p)
    assert r.returncode == 125
    assert p.exists("failure")


def test_stage1_image(flavour):
    aci = os.path.join(h.BUILD, {"nspawn": "stage1", "native": "stage1-native"}[flavour], f"pod-stage1-{flavour}.aci")
    names = subprocess.run(["tar", "tf", aci], capture_output=True, text=True, check=True).stdout.split()
    assert names[0] == "manifest" and "rootfs/init" in names and "rootfs/bin/run" in names
    m = json.loads(subprocess.run(["tar", "xOf", aci, "manifest"], capture_output=True, text=True, check=True).stdout)
    ann = {a["name"]: a["value"] for a in m["annotations"]}
    assert m["name"] == f"pod/stage1-{flavour}"
    assert ann["pod/stage1/run"] == "/bin/run" and ann["pod/stage1/interface-version"] == "1"
    assert ann["pod/stage1/flavor"] == flavour
    for ep in ("run", "enter", "stop", "gc"):
        assert "rootfs" + ann["pod/stage1/" + ep] in names
    rootfs = h.STAGE1_ROOTFS_OF[flavour]
    assert not has_interpreter(os.path.join(rootfs, "init")), "the pod init must be static"
    assert has_interpreter(os.path.join(rootfs, "bin", "run"))


def has_interpreter(path):
    """Does the ELF file at path have a PT_INTERP program header (i.e. is it dynamically linked)?"""
    import struct
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    assert data[:4] == b"\x7fELF" and data[4] == 2  # 64-bit
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return any(struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 3 for i in range(phnum))


def test_gc_after_kill_9_of_run_kills_strays(pods, flavour):
    p = pods([sh("main", "exec sleep 60")])
    run = h.start_pod(p)
    h.wait_for(lambda: p.exists("ready"), what="ready")
    init_pid = int(p.read("pid"))
    # nspawn holds the lock as well, and the native flavour's init itself: with only run gone the pod
    # is still running until that holder dies.
    holder = init_pid
    if flavour == "nspawn":
        holder = int(open(f"/proc/{init_pid}/stat").read().rsplit(")", 1)[1].split()[1])
    run.kill()
    run.wait()
    time.sleep(0.3)
    assert h.lock_held(p)
    os.kill(holder, signal.SIGKILL)
    h.wait_for(lambda: not h.lock_held(p), what="lock released")
    r = h.entrypoint(p, "gc", p.uuid)
    assert r.returncode == 0, r.stderr
    h.wait_for(lambda: not os.path.exists(f"/proc/{init_pid}"), what="pod init gone")
    assert not any(os.path.exists(f"{m}/pod/pod-{p.uuid}") for m in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup",
                                                                        "/sys/fs/cgroup/systemd"))
    assert h.entrypoint(p, "gc", p.uuid).returncode == 0


def test_ready_is_relayed_to_notify_socket(pods, tmp_path):
    import socket
    import struct
    p = pods([sh("main", "sleep 0.2")], runtime={"notifyReady": "started"})
    path = str(tmp_path / "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    s.settimeout(20)
    fd = h.lock_pod(p)
    try:
        env = dict(os.environ, POD_LOCK_FD=str(fd), NOTIFY_SOCKET=path)
        run = subprocess.Popen([p.entrypoint("run"), p.uuid], cwd=p.path, env=env, pass_fds=(fd,),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        os.close(fd)
    data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    assert data.decode().split("\n") == ["READY=1", "STATUS=pod started"]
    # From the run entrypoint itself, the unit's main process (systemd's NotifyAccess=main).
    assert [struct.unpack("iII", d)[0] for _, _, d in anc] == [run.pid]
    assert run.wait(timeout=20) == 0
    s.close()


def test_missing_host_volume_source_is_an_error(pods, tmp_path):
    p = pods([sh("main", "true", mounts={"v": "/v"})],
             volumes=[{"name": "v", "kind": "host", "source": str(tmp_path / "missing")}])
    r = h.run_pod(p)
    assert r.returncode == 125
    assert "missing" in p.read("failure") and not p.exists("pid")
