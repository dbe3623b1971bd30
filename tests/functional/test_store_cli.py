"""pod list/status/rm/gc and error handling against pods made through the library."""
import json
import os
import signal
import subprocess
import time


def test_version_help_and_usage_errors(pod):
    r = pod.run("version", check=0)
    assert "pod version" in r.stdout
    assert pod.run("--help", check=0).stdout.startswith("pod:")
    r = pod.run("frobnicate")
    assert r.returncode == 2 and 'unknown command "frobnicate"' in r.stderr
    r = pod.run("list", "--format=yaml")
    assert r.returncode == 2


def test_list_empty_store(pod):
    assert pod.run("list", check=0).stdout.split() == ["UUID", "APP", "IMAGE", "NAME", "STATE", "CREATED", "STARTED",
                                                       "NETWORKS", "PORTS"]
    assert pod.run("list", "--no-legend", check=0).stdout == ""
    assert json.loads(pod.run("list", "--format=json", check=0).stdout) == []


def test_data_dir_from_environment(pod):
    [u] = pod.fixture("prepared")
    r = subprocess.run([pod_bin(), "list", "--no-legend", "--full"], capture_output=True, text=True,
                       env={**os.environ, "POD_DIR": pod.dir}, check=True)
    assert u in r.stdout


def pod_bin():
    from conftest import POD_BIN
    return POD_BIN


def test_list_shows_states_and_apps(pod):
    [prepared] = pod.fixture("prepared", app="web")
    [exited] = pod.fixture("exited", app="db")
    [aborted] = pod.fixture("aborted")
    out = pod.run("list", "--full", "--no-legend", check=0).stdout
    rows = {l.split()[0]: l.split() for l in out.splitlines()}
    assert rows[prepared][1:4] == ["web", "example.com/web:1.0", "prepared"]
    assert rows[exited][1:4] == ["db", "example.com/db:1.0", "exited"]
    assert rows[aborted][3] == "aborted-prepare"
    short = pod.run("list", "--no-legend", check=0).stdout.split()
    assert prepared[:8] in short and prepared not in short
    js = {p["uuid"]: p for p in json.loads(pod.run("list", "--format=json", check=0).stdout)}
    assert js[exited]["state"] == "exited" and js[exited]["apps"][0]["exitCode"] == 0


def test_status_text_json_and_uuid_file(pod, tmp_path):
    [u] = pod.fixture("exited", app="web")
    r = pod.run("status", u, check=0)
    kv = dict(l.split("=", 1) for l in r.stdout.splitlines())
    assert kv["state"] == "exited" and kv["exited"] == "true" and kv["app-web"] == "0"
    js = json.loads(pod.run("status", u[:12], "--format=json", check=0).stdout)
    assert js["uuid"] == u and js["apps"][0]["name"] == "web"
    f = tmp_path / "uuid"
    f.write_text(u + "\n")
    assert "state=exited" in pod.run("status", "--uuid-file", str(f), check=0).stdout
    r = pod.run("status", "--uuid-file", str(tmp_path / "missing"))
    assert r.returncode == 2 and "cannot read UUID file" in r.stderr


def test_status_errors_unknown_ambiguous_empty(pod):
    uuids = pod.fixture("prepared", count=40)
    r = pod.run("status", "00000000-0000-4000-8000-000000000000")
    assert r.returncode == 3 and "no pod with UUID" in r.stderr
    r = pod.run("status", "ffff0000")
    if not any(u.startswith("ffff0000") for u in uuids):
        assert r.returncode == 3 and 'no pod matches "ffff0000"' in r.stderr
    firsts = [u[0] for u in uuids]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    r = pod.run("status", shared)
    assert r.returncode == 2 and "ambiguous" in r.stderr
    r = pod.run("status", "")
    assert r.returncode == 2 and "empty" in r.stderr
    r = pod.run("status", "../../etc")
    assert r.returncode == 2


def test_status_wait_and_wait_ready(pod):
    [line] = pod.fixture("running")
    u, pid = line.split()
    r = pod.run("status", "--wait-ready", u, check=0)
    assert "state=running" in r.stdout and f"pid={pid}" in r.stdout
    r = pod.run("status", "--wait=200ms", u)
    assert r.returncode == 1 and "timed out" in r.stderr
    start = time.monotonic()
    waiter = subprocess.Popen([pod_bin(), "--dir", pod.dir, "status", "--wait", u], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    assert waiter.poll() is None
    os.kill(int(pid), signal.SIGKILL)
    out, _ = waiter.communicate(timeout=10)
    assert waiter.returncode == 0 and "state=exited" in out
    assert time.monotonic() - start < 5


def test_rm_refuses_running_and_removes_others(pod):
    [line] = pod.fixture("running")
    u, pid = line.split()
    r = pod.run("rm", u)
    assert r.returncode == 4 and "stop it first" in r.stderr
    [p1] = pod.fixture("prepared")
    [e1] = pod.fixture("exited")
    [a1] = pod.fixture("aborted")
    r = pod.run("rm", p1, e1[:13], a1, check=0)
    assert r.stdout.split() == [f'"{p1}"', f'"{e1}"', f'"{a1}"']
    assert sum(len(v) for v in pod.state_dirs().values()) == 1
    r = pod.run("rm", p1)
    assert r.returncode == 3
    os.kill(int(pid), signal.SIGKILL)
    pod.run("status", "--wait=5s", u, check=0)
    pod.run("rm", u, check=0)
    assert sum(len(v) for v in pod.state_dirs().values()) == 0


def test_gc_mark_grace_and_expire(pod):
    [e] = pod.fixture("exited")
    [p] = pod.fixture("prepared")
    [a] = pod.fixture("aborted")
    pod.run("gc", "--mark-only", check=0)
    d = pod.state_dirs()
    assert d["exited-garbage"] == [e] and d["garbage"] == [a] and d["prepared"] == [p]
    r = pod.run("gc", check=0)  # default 30m grace keeps the exited pod; aborted one goes
    d = pod.state_dirs()
    assert d["exited-garbage"] == [e] and d["garbage"] == [] and d["prepared"] == [p]
    assert "status" and "state=exited-garbage" in pod.run("status", e, check=0).stdout
    pod.run("gc", "--grace-period=0", check=0)
    d = pod.state_dirs()
    assert d["exited-garbage"] == [] and d["prepared"] == [p]
    pod.run("gc", "--expire-prepared=0", check=0)
    assert sum(len(v) for v in pod.state_dirs().values()) == 0
    r = pod.run("gc", "--grace-period=soon")
    assert r.returncode == 2 and "--grace-period" in r.stderr


def test_gc_leaves_running_pods_alone(pod):
    [line] = pod.fixture("running")
    u, pid = line.split()
    pod.run("gc", "--grace-period=0", "--expire-prepared=0", check=0)
    assert "state=running" in pod.run("status", u, check=0).stdout
    os.kill(int(pid), signal.SIGKILL)
    pod.run("status", "--wait=5s", u, check=0)
    out = pod.run("gc", "--grace-period=0", check=0).stdout
    assert f'collected "{u}"' in out


def test_corrupt_pod_dirs_do_not_break_commands(pod):
    [u] = pod.fixture("exited")
    path = os.path.join(pod.dir, "pods", "run", u)
    with open(os.path.join(path, "pod"), "w") as f:
        f.write("{not json")
    with open(os.path.join(path, "created-at"), "w") as f:
        f.write("yesterday")
    os.makedirs(os.path.join(pod.dir, "pods", "run", "not-a-uuid"))
    r = pod.run("list", check=0)
    assert u[:8] in r.stdout and "pod manifest is not valid JSON" in r.stderr
    assert "state=exited" in pod.run("status", u, check=0).stdout
    pod.run("rm", u, check=0)


def test_data_dir_not_writable(pod, tmp_path):
    r = pod.run("--dir", "/proc/pod-data", "list")
    assert r.returncode == 1 and "/proc/pod-data" in r.stderr
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "none", str(ro)], check=True)
        try:
            r = subprocess.run([pod_bin(), "--dir", str(ro), "list"], capture_output=True, text=True)
            assert r.returncode == 1 and "not writable" in r.stderr or "cannot create" in r.stderr
        finally:
            subprocess.run(["umount", str(ro)], check=True)


def test_stale_embryo_is_collected(pod):
    [u] = pod.fixture("embryo")
    path = os.path.join(pod.dir, "pods", "embryo", u)
    old = time.time() - 3600
    with open(os.path.join(path, "created-at"), "w") as f:
        f.write(str(int(old * 1e9)))
    pod.run("gc", check=0)
    assert pod.state_dirs()["embryo"] == []


def test_version_reports_the_host_and_the_flavours(pod):
    j = json.loads(pod.run("version", "--format=json", check=0).stdout)
    assert j["dataDir"] == pod.dir and j["defaultFlavor"] == "native"
    assert set(j["flavors"]) >= {"nspawn", "kvm"} and all(os.path.isabs(p) for p in j["flavors"].values())
    with open("/proc/self/mountinfo") as f:
        mounts = {l.split(" - ")[0].split()[4]: l.split(" - ")[1].split()[0] for l in f}
    want = "v2" if mounts.get("/sys/fs/cgroup") == "cgroup2" else \
        "hybrid" if mounts.get("/sys/fs/cgroup/unified") == "cgroup2" else "v1"
    assert j["cgroupMode"] == want
    if not os.path.exists("/dev/kvm"):
        assert j["kvmDevice"] is False and j["kvmDetail"] == "/dev/kvm: No such file or directory"
    else:  # it opens and answers, or the detail says why not
        assert j["kvmDevice"] is True or j["kvmDetail"].startswith("/dev/kvm")
    assert isinstance(j["overlay"], bool) and isinstance(j["userNamespaces"], bool)
    text = pod.run("version", check=0).stdout
    assert text.startswith("pod version ") and f"data dir: {pod.dir}\n" in text
    assert "native (default)" in text and f"cgroups: {want}\n" in text
