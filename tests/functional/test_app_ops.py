"""Apps in a running pod (pod app sandbox|add|start|stop|rm|list|status) and ordered start (--after),
Documentation/cli.md "pod app". Native and nspawn flavours, and kvm (marked `both`: an emulated VM is slow)
for the sequence, gc, kill, copy mode and where an added app's tree is mounted."""
import json
import os
import signal
import subprocess

import pytest

from conftest import POD_BIN
from runhelpers import BUSYBOX_ACI, STAGE1, both, flavor, sh, start_pod, reap_pod  # noqa: F401 (fixture)
from stage1_helpers import wait_for


def sandbox(pod, flavor, *flags):
    r = pod.run("app", "sandbox", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}", *flags,
                timeout=120, check=0)
    return r.stdout.strip()


def add(pod, uuid, *app_flags, check=0):
    return pod.run("app", "add", "--insecure-options=image", uuid, BUSYBOX_ACI, *app_flags, timeout=120, check=check)


def apps(pod, uuid):
    return json.loads(pod.run("app", "list", "--format=json", uuid, check=0).stdout)


def app_status(pod, uuid, app):
    return json.loads(pod.run("app", "status", "--format=json", f"--app={app}", uuid, check=0).stdout)


def pod_state(pod, uuid):
    return json.loads(pod.run("status", "--format=json", uuid, check=0).stdout)["state"]


def stop_sandbox(pod, uuid):
    pod.run("stop", uuid, timeout=90, check=0)
    assert pod_state(pod, uuid) == "exited"


def pod_path(pod, uuid, *rel):
    return os.path.join(pod.dir, "pods", "run", uuid, *rel)


@both
def test_sandbox_add_start_stop_rm_list_status(pod, flavor):
    u = sandbox(pod, flavor)
    try:
        assert pod_state(pod, u) == "running"
        assert apps(pod, u) == []
        assert add(pod, u, "--name", "a", *sh("echo hi; exit 3")).stdout == "a\n"
        [a] = apps(pod, u)
        assert a["name"] == "a" and a["state"] == "created" and "pid" not in a and "exitCode" not in a
        assert app_status(pod, u, "a")["state"] == "created"
        started = pod.run("app", "start", "--format=json", "--app=a", u, check=0)
        assert json.loads(started.stdout)["state"] in ("running", "exited")
        wait_for(lambda: app_status(pod, u, "a")["state"] == "exited", 30, "app a to exit")
        st = app_status(pod, u, "a")
        assert st["exitCode"] == 3 and st["startedAt"] <= st["finishedAt"]
        # Recorded as for ordinary pods: appstatus/<app>, pod status, logs; the sandbox runs on.
        with open(pod_path(pod, u, "appstatus", "a")) as f:
            assert json.load(f)["exitCode"] == 3
        assert pod_state(pod, u) == "running"
        assert pod.run("logs", "--app=a", u, check=0).stdout == "hi\n"
        assert os.path.getsize(pod_path(pod, u, "logtimes", "a")) == 32  # its time index: a header and one record
        r = pod.run("app", "start", "--app=a", u)
        assert r.returncode == 125 and "app a is exited, not created" in r.stderr

        add(pod, u, "--name", "b", *sh("trap 'exit 0' USR1; while true; do sleep 0.1; done"))
        pod.run("app", "start", "--app=b", u, check=0)
        b = app_status(pod, u, "b")
        assert b["state"] == "running" and b["pid"] > 0
        # A running app cannot be removed.
        r = pod.run("app", "rm", "--app=b", u)
        assert r.returncode == 4 and "is running; stop it first" in r.stderr
        r = pod.run("app", "stop", "--app=b", u, timeout=60)
        assert (r.returncode, r.stdout) == (0, "b: stopped\n")
        b = app_status(pod, u, "b")
        assert b["state"] == "exited" and b["exitCode"] == 128 + signal.SIGTERM and b["signal"] == signal.SIGTERM

        # rm: gone from the manifest, the pod dir and the pod's mounts.
        assert pod.run("app", "rm", "--app=a", u, check=0).stdout == "a\n"
        assert [x["name"] for x in apps(pod, u)] == ["b"]
        manifest = json.loads(pod.run("cat-manifest", u, check=0).stdout)
        assert [x["name"] for x in manifest["apps"]] == ["b"]
        for rel in (("apps", "a"), ("appstatus", "a"), ("apptimes", "a"), ("logtimes", "a"), ("logs", "a.log"),
                    ("overlay", "app-a")):
            assert not os.path.exists(pod_path(pod, u, *rel)), rel
        assert pod.run("app", "status", "--app=a", u).returncode == 3
        # The name is free again: a new app a runs from a fresh tree.
        add(pod, u, "--name", "a", *sh("test -e /gone && exit 9; touch /gone; exit 0"))
        pod.run("app", "start", "--app=a", u, check=0)
        wait_for(lambda: app_status(pod, u, "a")["state"] == "exited", 30, "the new app a")
        assert app_status(pod, u, "a")["exitCode"] == 0
    finally:
        stop_sandbox(pod, u)
    # After the pod: from the exit records.
    assert {x["name"]: x.get("exitCode") for x in apps(pod, u)} == {"b": 143, "a": 0}
    r = pod.run("app", "add", "--insecure-options=image", u, BUSYBOX_ACI)
    assert r.returncode == 4 and "it is exited" in r.stderr


def test_stop_reports_each_app_and_the_exit_status_says_whether_any_failed(pod, flavor):
    u = sandbox(pod, flavor)
    try:
        add(pod, u, "--name", "b", *sh("sleep 600"))
        pod.run("app", "start", "--app=b", u, check=0)
        r = pod.run("app", "stop", "--format=json", "--app=b", "--app=nope", u, timeout=60)
        assert r.returncode == 1
        assert json.loads(r.stdout) == {
            "b": {"ok": True, "message": "stopped"},
            "nope": {"ok": False, "message": f'pod {u} has no app named "nope"'}}
        r = pod.run("app", "stop", "--app=nope", u)
        assert r.returncode == 1 and r.stdout == "" and r.stderr == f'nope: pod {u} has no app named "nope"\n'
        # Nothing to stop is not a failure: a created app, an exited one.
        add(pod, u, "--name", "c", *sh("sleep 600"))
        r = pod.run("app", "stop", "--app=c", "--app=b", u, timeout=30)
        assert (r.returncode, r.stdout) == (0, "c: not started\nb: already exited\n")
    finally:
        stop_sandbox(pod, u)


def test_concurrent_adds_keep_every_app(pod, flavor):
    u = sandbox(pod, flavor)
    try:
        names = [f"app{i}" for i in range(6)]
        procs = [subprocess.Popen([POD_BIN, "--dir", pod.dir, "app", "add", "--insecure-options=image", u, BUSYBOX_ACI,
                                   "--name", n, *sh("exit 0")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for n in names]
        for p, n in zip(procs, names):
            out, err = p.communicate(timeout=120)
            assert (p.returncode, out) == (0, n + "\n"), err
        assert sorted(x["name"] for x in apps(pod, u)) == names
        manifest = json.loads(pod.run("cat-manifest", u, check=0).stdout)
        assert sorted(x["name"] for x in manifest["apps"]) == names
        for n in names:
            pod.run("app", "start", f"--app={n}", u, check=0)
        wait_for(lambda: all(x["state"] == "exited" for x in apps(pod, u)), 60, "every app to exit")
        r = add(pod, u, "--name", "app0", check=None)
        assert r.returncode == 4 and 'has an app named "app0" already' in r.stderr
    finally:
        stop_sandbox(pod, u)


@both
def test_gc_collects_a_stopped_sandbox(pod, flavor):
    u = sandbox(pod, flavor)
    add(pod, u, "--name", "a", *sh("sleep 600"))
    pod.run("app", "start", "--app=a", u, check=0)
    # A paused pod's init cannot answer: refused, not hung.
    pod.run("pause", u, timeout=60, check=0)
    r = pod.run("app", "start", "--app=a", u, timeout=30)
    assert r.returncode == 4 and "it is paused; resume it first" in r.stderr
    pod.run("resume", u, timeout=60, check=0)
    # gc leaves a running sandbox alone.
    pod.run("gc", "--grace-period=0", check=0)
    assert pod_state(pod, u) == "running"
    stop_sandbox(pod, u)
    pod.run("gc", "--grace-period=0", check=0)
    assert pod.run("status", u).returncode == 3
    assert not any(u in os.listdir(os.path.join(pod.dir, "pods", d)) for d in os.listdir(os.path.join(pod.dir, "pods")))


@pytest.mark.parametrize("point", ["app-add:before-stage", "app-add:before-commit", "app-add:after-commit"])
def test_add_killed_midway_then_next_add_and_gc(pod, flavor, point):
    u = sandbox(pod, flavor)
    try:
        r = pod.run("app", "add", "--insecure-options=image", u, BUSYBOX_ACI, "--name", "a", *sh("exit 5"),
                    env={"POD_CRASHPOINT": point}, timeout=120)
        assert r.returncode == -signal.SIGKILL
        committed = point == "app-add:after-commit"
        assert [x["name"] for x in apps(pod, u)] == (["a"] if committed else [])
        if committed:  # an app: created, and start finishes what the add did not
            assert app_status(pod, u, "a")["state"] == "created"
        else:  # staged leftovers only, which the next add removes
            add(pod, u, "--name", "a", *sh("exit 5"))
        add(pod, u, "--name", "b", *sh("exit 6"))
        for n in ("a", "b"):
            pod.run("app", "start", f"--app={n}", u, check=0)
        wait_for(lambda: all(x["state"] == "exited" for x in apps(pod, u)), 60, "both apps to exit")
        assert {x["name"]: x["exitCode"] for x in apps(pod, u)} == {"a": 5, "b": 6}
    finally:
        stop_sandbox(pod, u)
    pod.run("gc", "--grace-period=0", check=0)
    assert pod.run("status", u).returncode == 3


def test_ordered_start_and_reverse_stop(pod, flavor, tmp_path):
    os.chmod(tmp_path, 0o777)
    script = ("trap 'echo {n} >> /v/stopped; exit 0' TERM; echo {n} >> /v/started; "
              "while true; do sleep 0.05; done")
    vol = ("--mount", "volume=v,target=/v")
    # Manifest order c, b, a; c starts after b, b after a.
    p, u = start_pod(pod, flavor, "--name", "c", "--after", "b", *vol, *sh(script.format(n="c")), "---",
                     BUSYBOX_ACI, "--name", "b", "--after", "a", *vol, *sh(script.format(n="b")), "---",
                     BUSYBOX_ACI, "--name", "a", *vol, *sh(script.format(n="a")),
                     pod_flags=("--volume", f"v,kind=host,source={tmp_path}"))
    try:
        wait_for(lambda: len(open(tmp_path / "started").read().split()) == 3 if (tmp_path / "started").exists()
                 else False, 30, "three apps")
        started = {x["name"]: x["startedAt"] for x in apps(pod, u)}
        assert started["a"] < started["b"] < started["c"]
        assert [x["after"] for x in apps(pod, u) if "after" in x] == [["b"], ["a"]]
        pod.run("stop", u, timeout=90, check=0)
        assert p.wait(timeout=60) == 0
        # Each app stopped once the apps that start after it had exited.
        assert (tmp_path / "stopped").read_text() == "c\nb\na\n"
        recs = {n: json.load(open(pod_path(pod, u, "apptimes", n))) for n in "abc"}
        assert all(json.load(open(pod_path(pod, u, "appstatus", n))) == {"exitCode": 0} for n in "abc")
        assert recs["c"]["finishedAt"] < recs["b"]["finishedAt"] < recs["a"]["finishedAt"]
        assert recs["a"]["startedAt"] < recs["b"]["startedAt"] < recs["c"]["startedAt"]
    finally:
        reap_pod(pod, p, u, timeout=60)


def test_after_in_a_sandbox_waits_for_the_named_app(pod, flavor):
    u = sandbox(pod, flavor)
    try:
        add(pod, u, "--name", "a", *sh("sleep 600"))
        add(pod, u, "--name", "b", "--after", "a", *sh("sleep 600"))
        r = pod.run("app", "start", "--app=b", u)
        assert r.returncode == 125 and "app b starts after a, which has not been started" in r.stderr
        r = add(pod, u, "--name", "c", "--after", "nope", check=None)
        assert r.returncode == 2 and 'app c: --after nope: the pod has no app named "nope"' in r.stderr
        r = pod.run("app", "rm", "--app=a", u)
        assert r.returncode == 4 and "app b of pod" in r.stderr and "starts after a" in r.stderr
        pod.run("app", "start", "--app=a", u, check=0)
        pod.run("app", "start", "--app=b", u, check=0)
        # Stopping both: b (the dependent) first.
        r = pod.run("app", "stop", "--format=json", u, timeout=60, check=0)
        assert list(json.loads(r.stdout)) == ["b", "a"]
    finally:
        stop_sandbox(pod, u)


class Prepared:
    def __init__(self, r):
        self.returncode, self.stdout = r.returncode, r.stdout
        # Without the warning that the test image is unsigned.
        self.stderr = "".join(l for l in r.stderr.splitlines(True) if "was not signature-checked" not in l)


def prepare(pod, *args):
    return Prepared(pod.run("prepare", "--insecure-options=image", "--quiet", BUSYBOX_ACI, *args, timeout=120))


@pytest.mark.skipif(not os.path.exists(BUSYBOX_ACI), reason="example busybox image was not built")
def test_cycles_and_unknown_names_are_rejected_at_prepare(pod):
    r = prepare(pod, "--name", "a", "--after", "b", *sh("true"), "---", BUSYBOX_ACI, "--name", "b", "--after", "c",
                *sh("true"), "---", BUSYBOX_ACI, "--name", "c", "--after", "a", *sh("true"))
    assert (r.returncode, r.stdout, r.stderr) == (2, "", "pod: app ordering has a cycle: a -> b -> c -> a (--after)\n")
    r = prepare(pod, "--name", "a", "--after", "nope", *sh("true"))
    assert (r.returncode, r.stderr) == (2, 'pod: app a: --after nope: the pod has no app named "nope"\n')
    r = prepare(pod, "--name", "a", "--after", "a", *sh("true"))
    assert (r.returncode, r.stderr) == (2, "pod: app a cannot start after itself (--after a)\n")
    r = prepare(pod, "--name", "a", "--after", "a:ready", *sh("true"))
    assert (r.returncode, r.stderr) == (2, "pod: app a cannot start after itself (--after a)\n")
    r = prepare(pod, "--name", "a", *sh("true"), "---", BUSYBOX_ACI, "--name", "b", "--after", "a:ready", *sh("true"))
    assert r.returncode == 2 and "app a gets no NOTIFY_SOCKET, so it never sends READY=1" in r.stderr
    assert pod.run("list", "--format=json", check=0).stdout.strip() == "[]"


def mount_points(pid):
    with open(f"/proc/{pid}/mountinfo") as f:
        return [line.split()[4] for line in f]


@pytest.mark.skipif(not os.path.exists(STAGE1["kvm"]), reason="kvm stage1 image was not built")
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_kvm_added_app_tree_is_mounted_where_virtiofsd_serves_it_and_gone_on_rm(pod):
    """kvm: the guest's init sees an added app's overlay through virtiofsd, so it is mounted in the run
    entrypoint's namespace (stage1-state/run.pid), not the host's, and detached again by `pod app rm`."""
    u = sandbox(pod, "kvm", "--net=none")
    try:
        run_pid = int(open(pod_path(pod, u, "stage1-state", "run.pid")).read())
        rootfs = pod_path(pod, u, "stage1", "rootfs", "opt", "stage2", "a", "rootfs")
        add(pod, u, "--name", "a", *sh("echo in-guest > /mark; exit 0"))
        assert rootfs in mount_points(run_pid) and rootfs not in mount_points(os.getpid())
        pod.run("app", "start", "--app=a", u, check=0)
        wait_for(lambda: app_status(pod, u, "a")["state"] == "exited", 60, "app a to exit")
        assert app_status(pod, u, "a")["exitCode"] == 0
        with open(pod_path(pod, u, "overlay", "app-a", "upper", "mark")) as f:  # written by the guest
            assert f.read() == "in-guest\n"
        assert pod.run("app", "rm", "--app=a", u, check=0).stdout == "a\n"
        assert rootfs not in mount_points(run_pid)
        assert not os.path.exists(pod_path(pod, u, "overlay", "app-a"))
    finally:
        stop_sandbox(pod, u)


@both
def test_kill_several_apps_reports_each_outcome(pod, flavor):
    u = sandbox(pod, flavor)
    try:
        add(pod, u, "--name", "a", *sh("trap 'exit 7' USR1; while true; do sleep 0.05; done"))
        add(pod, u, "--name", "b", *sh("sleep 600"))
        for n in ("a", "b"):
            pod.run("app", "start", f"--app={n}", u, check=0)
        r = pod.run("kill", "--signal=USR1", "--app=a", "--app=nope", "--format=json", u, timeout=60)
        assert r.returncode == 1
        assert json.loads(r.stdout) == {"a": {"ok": True, "message": "signalled"},
                                        "nope": {"ok": False, "message": f'pod {u} has no app named "nope"'}}
        wait_for(lambda: app_status(pod, u, "a")["state"] == "exited", 30, "app a to exit")
        assert app_status(pod, u, "a")["exitCode"] == 7
        r = pod.run("kill", "--signal=KILL", "--app=a", "--app=b", u, timeout=60)
        assert (r.returncode, r.stdout, r.stderr) == (1, "b: signalled\n", "a: not running\n")
        wait_for(lambda: app_status(pod, u, "b")["state"] == "exited", 30, "app b to exit")
        assert app_status(pod, u, "b")["exitCode"] == 128 + signal.SIGKILL
        assert pod_state(pod, u) == "running"  # a sandbox outlives its apps
    finally:
        stop_sandbox(pod, u)


@both
def test_copy_mode_sandbox_and_restart_after_a_killed_add(pod, flavor):
    u = sandbox(pod, flavor, "--no-overlay")
    try:
        assert open(pod_path(pod, u, "rootfs-mode")).read() == "copy\n"
        add(pod, u, "--name", "a", *sh("echo copied > /mark; exit 4"))
        pod.run("app", "start", "--app=a", u, check=0)
        wait_for(lambda: app_status(pod, u, "a")["state"] == "exited", 30, "app a to exit")
        assert app_status(pod, u, "a")["exitCode"] == 4
        with open(pod_path(pod, u, "stage1", "rootfs", "opt", "stage2", "a", "rootfs", "mark")) as f:
            assert f.read() == "copied\n"
        r = pod.run("app", "add", "--insecure-options=image", u, BUSYBOX_ACI, "--name", "b", *sh("exit 0"),
                    env={"POD_CRASHPOINT": "app-add:before-commit"}, timeout=120)
        assert r.returncode == -signal.SIGKILL
        # A restart runs the manifest's apps (a again), not what the killed add staged.
        r = pod.run("restart", "--timeout=60s", u, timeout=90)
        assert r.returncode == 0, r.stderr
        wait_for(lambda: app_status(pod, u, "a")["state"] == "exited", 30, "app a to exit again")
        assert [x["name"] for x in apps(pod, u)] == ["a"]
        assert pod_state(pod, u) == "running"
    finally:
        stop_sandbox(pod, u)
