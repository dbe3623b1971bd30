"""Readiness from the apps themselves (Documentation/systemd.md "Readiness", Documentation/lifecycle.md):
per-app READY=1 recorded in appready/<app> and shown by `pod status` / `pod app status`, `pod status
--wait-ready` waiting for it, and `--after NAME:ready`. Native and nspawn flavours, and kvm for the tests
marked `both` (its guest agent writes the records: Documentation/stage1-kvm.md).

The test image is busybox plus the static sd_notify sender tests/tools/sd-notify-send (test_notify.py).
"""
import json
import os
import subprocess
import time

import pytest

from conftest import POD_BIN
from runhelpers import STAGE1, both, flavor, sh  # noqa: F401 (fixture)
from stage1_helpers import wait_for
from test_notify import notify_aci


@pytest.fixture
def image(tmp_path):
    return notify_aci(str(tmp_path / "n.aci"), "example.com/notify", annotated=True)


@pytest.fixture
def plain_image(tmp_path):
    return notify_aci(str(tmp_path / "p.aci"), "example.com/plain", annotated=False)


def launch(pod, flavor, tmp_path, *args, pod_flags=()):
    """`pod run` in the background (no NOTIFY_SOCKET of its own); returns (Popen, uuid) once the uuid exists."""
    uuid_file = os.path.join(pod.dir, f"uuid-{time.monotonic_ns()}")
    os.chmod(tmp_path, 0o777)
    cmd = [POD_BIN, "--dir", pod.dir, "run", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}",
           f"--uuid-file-save={uuid_file}", "--volume", f"v,kind=host,source={tmp_path}", *pod_flags, *args]
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                         env=env)
    wait_for(lambda: p.poll() is not None or (os.path.exists(uuid_file) and open(uuid_file).read().strip()), 90,
             "the pod's uuid")
    assert p.poll() is None, p.communicate()
    return p, open(uuid_file).read().strip()


def status(pod, uuid):
    out = pod.run("status", uuid, check=0).stdout
    return dict(l.split("=", 1) for l in out.splitlines() if "=" in l)


def app_status(pod, uuid, app):
    return json.loads(pod.run("app", "status", "--format=json", f"--app={app}", uuid, check=0).stdout)


def finish(pod, p, uuid):
    if p.poll() is None:
        pod.run("stop", uuid, timeout=90)
    return p.communicate(timeout=60)


VOL = ("--mount", "volume=v,target=/v")


@both
def test_status_shows_not_ready_then_ready_and_wait_ready_waits(pod, flavor, tmp_path, image):
    p, u = launch(pod, flavor, tmp_path, image, "--name", "web", *VOL, *sh(
        "sd-notify-send STATUS=warming-up; sleep 3; echo x > /v/marker; sd-notify-send READY=1 STATUS=serving; "
        "sleep 600"))
    try:
        wait_for(lambda: status(pod, u).get("app-web-notify-status") == "warming-up", 60, "the app's first STATUS=")
        s = status(pod, u)
        assert (s["state"], s["app-web-ready"]) == ("running", "false")
        a = app_status(pod, u, "web")
        assert (a["state"], a["ready"], a["notifyStatus"]) == ("running", False, "warming-up") and "readyAt" not in a
        assert not os.path.exists(os.path.join(pod.dir, "pods", "run", u, "ready"))
        # --wait-ready returns once the app said READY=1 (it wrote the marker just before), not at its start.
        r = pod.run("status", "--wait-ready=60s", u, timeout=90, check=0)
        assert (tmp_path / "marker").exists()
        s = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)
        assert (s["state"], s["app-web-ready"], s["app-web-notify-status"]) == ("running", "true", "serving")
        a = app_status(pod, u, "web")
        assert (a["ready"], a["notifyStatus"]) == (True, "serving") and a["readyAt"] >= a["startedAt"]
        st = json.loads(pod.run("status", "--format=json", u, check=0).stdout)
        assert [(x["name"], x["ready"], x["notifyStatus"]) for x in st["apps"]] == [("web", True, "serving")]
    finally:
        out, err = finish(pod, p, u)
    assert p.returncode == 143, err


@both
def test_after_ready_starts_the_dependent_only_after_ready(pod, flavor, tmp_path, image):
    # Manifest order: a (after b:ready), b. b is up at once but ready only 2 s later.
    p, u = launch(pod, flavor, tmp_path,
                  image, "--name", "a", "--after", "b:ready", *VOL, *sh("echo a-start >> /v/order; sd-notify-send READY=1; sleep 600"),
                  "---",
                  image, "--name", "b", *VOL,
                  *sh("echo b-up >> /v/order; sleep 2; echo b-ready >> /v/order; sd-notify-send READY=1; sleep 600"))
    try:
        wait_for(lambda: (tmp_path / "order").exists() and "b-up" in (tmp_path / "order").read_text(), 60, "b to run")
        assert app_status(pod, u, "a")["state"] == "created"
        # The pod is ready once both are (a has a notify socket too, and says READY=1 once it started).
        pod.run("status", "--wait-ready=60s", u, timeout=90, check=0)
        assert (tmp_path / "order").read_text() == "b-up\nb-ready\na-start\n"
        a, b = app_status(pod, u, "a"), app_status(pod, u, "b")
        assert a["afterReady"] == ["b"] and a["after"] == ["b"]
        assert b["readyAt"] <= a["startedAt"]
    finally:
        out, err = finish(pod, p, u)
    assert p.returncode == 143, err


def test_a_dependency_that_exits_before_ready_fails_the_dependent(pod, flavor, tmp_path, image):
    p, u = launch(pod, flavor, tmp_path,
                  image, "--name", "a", "--after", "b:ready", *VOL, *sh("echo a-start >> /v/order"), "---",
                  image, "--name", "b", *sh("sleep 1; exit 0"))
    out, err = p.communicate(timeout=90)
    assert p.returncode == 1, err
    assert not (tmp_path / "order").exists()  # a never ran
    s = status(pod, u)
    assert (s["state"], s["app-a"], s["app-b"]) == ("exited", "1", "0")
    assert s["app-a-error"] == "app b exited before it was ready (--after b:ready)"
    assert s["app-b-ready"] == "false"
    a = app_status(pod, u, "a")
    assert (a["state"], a["exitCode"], a["error"]) == ("exited", 1, "app b exited before it was ready (--after b:ready)")
    assert "startedAt" not in a
    # The pod never became ready: --wait-ready returns (the pod is over) and says so in its exit status.
    r = pod.run("status", "--wait-ready=5s", u, timeout=60)
    assert r.returncode == 0 and "state=exited" in r.stdout


def test_after_ready_on_an_app_without_notify_socket_is_refused(pod, image, plain_image):
    r = pod.run("prepare", "--insecure-options=image", "--quiet", f"--stage1-path={STAGE1['native']}",
                image, "--name", "a", "--after", "b:ready", *sh("true"), "---", plain_image, "--name", "b",
                *sh("true"), timeout=120)
    assert r.returncode == 2
    assert ("pod: app a: --after b:ready: app b gets no NOTIFY_SOCKET, so it never sends READY=1 (give "
            "--notify-ready=app, or use an image with appc.io/executor/supports-systemd-notify)\n") in r.stderr
    r = pod.run("prepare", "--insecure-options=image", "--quiet", f"--stage1-path={STAGE1['native']}",
                image, "--name", "a", "--after", "b:started", *sh("true"), "---", image, "--name", "b", *sh("true"))
    assert r.returncode == 2 and ("--after b:started: the condition after ':' can only be \"ready\" (NAME or "
                                  "NAME:ready)") in r.stderr
    # --notify-ready=app gives every app a socket: then b may be waited for.
    r = pod.run("prepare", "--insecure-options=image", "--quiet", f"--stage1-path={STAGE1['native']}",
                "--notify-ready=app", plain_image, "--name", "a", "--after", "b:ready", *sh("true"), "---",
                plain_image, "--name", "b", *sh("true"), timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(pod.run("list", "--format=json", check=0).stdout)) == 1
