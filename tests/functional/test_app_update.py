"""pod app update (Documentation/cli.md "pod app"): a running app's resource limits change at once, are
enforced on what runs in it, and are recorded; a created app gets them when it starts; what cannot change is
refused with the exact exit code. Native and nspawn flavours."""
import json

from test_app_ops import add, app_status, sandbox, stop_sandbox
from test_isolation import flavor  # noqa: F401 (fixture: native and nspawn; kvm app-ops: test_app_ops.py)


def isolators(pod, uuid, app):
    [a] = [a for a in json.loads(pod.run("status", "--format=json", uuid, check=0).stdout)["apps"] if a["name"] == app]
    return {i["name"]: i["value"] for i in a["isolators"]}


def enter(pod, uuid, app, script):
    return pod.run("enter", f"--app={app}", uuid, "--", "/bin/sh", "-c", script, timeout=60)


ALLOC = "dd if=/dev/zero of=/dev/null bs=48M count=1 2>/dev/null && echo ok"


def test_limits_of_a_running_app_change_at_once(pod, flavor):
    u = sandbox(pod, flavor)
    try:
        add(pod, u, "--name", "a", "--memory=128Mi", "--cpu=500m", "--exec", "/bin/sleep", "--", "600")
        pod.run("app", "start", "--app=a", u, check=0)
        r = enter(pod, u, "a", ALLOC)
        assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr
        # Lowered below the allocation: OOM-killed in the app's cgroup.
        r = pod.run("app", "update", "--format=json", "--app=a", "--memory=32Mi", "--cpu=200m", u)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["state"] == "running"
        assert isolators(pod, u, "a") == {"resource/memory": {"limit": "32Mi"}, "resource/cpu": {"limit": "200m"}}
        assert enter(pod, u, "a", ALLOC).returncode == 137
        # Raised again (the other limit stays as it is).
        assert pod.run("app", "update", "--app=a", "--memory=128Mi", u, check=0).stdout.startswith("name=a\n")
        assert isolators(pod, u, "a") == {"resource/memory": {"limit": "128Mi"}, "resource/cpu": {"limit": "200m"}}
        r = enter(pod, u, "a", ALLOC)
        assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr
        # A limit of a kind the app was started without: its processes have no cgroup of that kind.
        r = pod.run("app", "update", "--app=a", "--pids-limit=10", u)
        assert r.returncode == 4 and "app a was started without a pids limit" in r.stderr, r.stderr
        assert "resource/pids" not in isolators(pod, u, "a")
        # Bad values and unknown apps.
        r = pod.run("app", "update", "--app=a", "--memory=lots", u)
        assert r.returncode == 2 and "--memory=lots" in r.stderr, r.stderr
        r = pod.run("app", "update", "--app=a", u)
        assert r.returncode == 2 and "no resource limit given" in r.stderr, r.stderr
        r = pod.run("app", "update", "--app=nope", "--memory=1M", u)
        assert r.returncode == 3 and 'has no app named "nope"' in r.stderr, r.stderr
        r = pod.run("app", "update", "--app=a", "--caps-remove=CAP_CHOWN", u)
        assert r.returncode == 2, r.stderr  # not a flag of update: capabilities are set when an app starts
    finally:
        stop_sandbox(pod, u)


def test_a_created_app_starts_with_the_updated_limits(pod, flavor):
    u = sandbox(pod, flavor)
    try:
        add(pod, u, "--name", "b", "--exec", "/bin/sleep", "--", "600")
        r = pod.run("app", "update", "--app=b", "--memory=32Mi", "--pids-limit=50", u)
        assert r.returncode == 0, r.stderr
        pod.run("app", "start", "--app=b", u, check=0)
        assert app_status(pod, u, "b")["state"] == "running"
        assert enter(pod, u, "b", ALLOC).returncode == 137
        r = enter(pod, u, "b", "cat /proc/self/cgroup")
        assert any(l.endswith(":pids:/app-b") or l == "0::/app-b" for l in r.stdout.splitlines()), r.stdout
    finally:
        stop_sandbox(pod, u)
