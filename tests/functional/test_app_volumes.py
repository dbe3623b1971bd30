"""Volumes a running pod gains with an app: `pod app add --volume … UUID IMAGE --mount volume=…,target=…`
(Documentation/cli.md "pod app"). Native and nspawn flavours: a host directory written through, a read-only
host file, both unmounted in the pod and dropped from its manifest when the app is removed."""
import json
import os
import signal

import pytest

from conftest import POD_BIN  # noqa: F401
from runhelpers import BUSYBOX_ACI, STAGE1, flavor, sh  # noqa: F401 (fixture)
from stage1_helpers import wait_for
from test_app_ops import app_status, apps, pod_path, sandbox, stop_sandbox


def add_with(pod, uuid, volumes, *app_flags, env=None):
    flags = [f for v in volumes for f in ("--volume", v)]
    return pod.run("app", "add", "--insecure-options=image", *flags, uuid, BUSYBOX_ACI, *app_flags, timeout=120,
                   env=env)


def manifest_volumes(pod, uuid):
    with open(pod_path(pod, uuid, "pod")) as f:
        return [v["name"] for v in json.load(f).get("volumes", [])]


def pod_mounts(pod, uuid):
    with open(pod_path(pod, uuid, "pid")) as f:
        pid = f.read().strip()
    with open(f"/proc/{pid}/mountinfo") as f:
        return [ln.split()[4] for ln in f.read().splitlines()]


def test_app_add_with_host_volumes(pod, flavor, tmp_path):
    d, f = tmp_path / "d", tmp_path / "f"
    d.mkdir()
    f.write_text("file content\n")
    u = sandbox(pod, flavor)
    try:
        r = add_with(pod, u, [f"d,kind=host,source={d}", f"f,kind=host,source={f},readOnly=true"],
                     "--name", "a", "--mount", "volume=d,target=/data", "--mount", "volume=f,target=/etc/f",
                     *sh("cat /etc/f > /data/copy; touch /etc/f 2>&1; echo rc=$?"))
        assert (r.returncode, r.stdout) == (0, "a\n"), r.stderr
        assert manifest_volumes(pod, u) == ["d", "f"]
        pod.run("app", "start", "--app=a", u, check=0)
        wait_for(lambda: app_status(pod, u, "a")["state"] == "exited", 30, "app a to exit")
        assert app_status(pod, u, "a")["exitCode"] == 0
        assert (d / "copy").read_text() == "file content\n"
        assert pod.run("logs", "--app=a", u, check=0).stdout == "touch: /etc/f: Read-only file system\nrc=1\n"
        assert {"/host-volumes/d", "/host-volumes/f"} <= set(pod_mounts(pod, u))

        # A name the pod has already is refused; a volume no mount names is refused; a missing source too.
        r = add_with(pod, u, [f"d,kind=host,source={d}"], "--name", "b", "--mount", "volume=d,target=/d")
        assert r.returncode == 4 and f'pod {u} has a volume named "d" already' in r.stderr, r.stderr
        r = add_with(pod, u, [f"e,kind=host,source={d}"], "--name", "b")
        assert r.returncode == 2 and "volume e is not mounted by the app (give a mount of it)" in r.stderr, r.stderr
        r = add_with(pod, u, [f"e,kind=host,source={tmp_path}/nope"], "--name", "b", "--mount", "volume=e,target=/e")
        assert r.returncode == 2 and f"source {tmp_path}/nope does not exist" in r.stderr, r.stderr
        assert manifest_volumes(pod, u) == ["d", "f"]

        # Removed with the app: unmounted in the pod and gone from the manifest; the host keeps its files.
        pod.run("app", "rm", "--app=a", u, check=0)
        assert manifest_volumes(pod, u) == []
        assert not [m for m in pod_mounts(pod, u) if m.startswith("/host-volumes/")]
        assert sorted(os.listdir(d)) == ["copy"] and f.read_text() == "file content\n"
        # The name is free again.
        r = add_with(pod, u, [f"d,kind=host,source={d}"], "--name", "c", "--mount", "volume=d,target=/data",
                     *sh("cat /data/copy"))
        assert r.returncode == 0, r.stderr
        pod.run("app", "start", "--app=c", u, check=0)
        wait_for(lambda: app_status(pod, u, "c")["state"] == "exited", 30, "app c to exit")
        assert pod.run("logs", "--app=c", u, check=0).stdout == "file content\n"
    finally:
        stop_sandbox(pod, u)
    assert not [ln for ln in open("/proc/self/mountinfo").read().splitlines() if str(tmp_path) in ln]


@pytest.mark.parametrize("point", ["app-add:before-commit", "app-add:after-commit", "app-rm:before-commit"])
def test_add_and_rm_killed_midway(pod, flavor, tmp_path, point):
    """kill -9 of pod app add before its commit: no volume; after it: the volume is the pod's, not mounted
    yet, and start mounts it; of pod app rm before its commit: unmounted, and the next rm drops it."""
    d = tmp_path / "d"
    d.mkdir()
    (d / "x").write_text("from the host\n")
    u = sandbox(pod, flavor)
    try:
        app = ([f"d,kind=host,source={d}"], "--name", "a", "--mount", "volume=d,target=/d", *sh("cat /d/x"))
        r = add_with(pod, u, *app, env={"POD_CRASHPOINT": point} if point.startswith("app-add") else None)
        if point == "app-add:before-commit":
            assert r.returncode == -signal.SIGKILL and manifest_volumes(pod, u) == []
            assert add_with(pod, u, *app).returncode == 0
        elif point == "app-add:after-commit":
            assert r.returncode == -signal.SIGKILL and manifest_volumes(pod, u) == ["d"]
            assert "/host-volumes/d" not in pod_mounts(pod, u)
        pod.run("app", "start", "--app=a", u, check=0)
        wait_for(lambda: app_status(pod, u, "a")["state"] == "exited", 30, "app a to exit")
        assert pod.run("logs", "--app=a", u, check=0).stdout == "from the host\n"
        assert "/host-volumes/d" in pod_mounts(pod, u)
        if point == "app-rm:before-commit":
            r = pod.run("app", "rm", "--app=a", u, env={"POD_CRASHPOINT": point}, timeout=60)
            assert r.returncode == -signal.SIGKILL and manifest_volumes(pod, u) == ["d"]
            assert "/host-volumes/d" not in pod_mounts(pod, u)
        pod.run("app", "rm", "--app=a", u, check=0)
        assert manifest_volumes(pod, u) == [] and "/host-volumes/d" not in pod_mounts(pod, u)
    finally:
        stop_sandbox(pod, u)
    assert os.listdir(d) == ["x"]


@pytest.mark.skipif(not os.path.exists(STAGE1["kvm"]), reason="kvm stage1 image was not built")
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_kvm_refuses_volumes_before_adding_anything(pod, tmp_path):
    """The kvm stage1 does not declare pod/stage1/app-volumes (its guest sees host volumes only through the
    shares made at boot): an app with volumes is refused before the manifest changes."""
    u = sandbox(pod, "kvm", "--net=none")
    try:
        r = add_with(pod, u, [f"d,kind=host,source={tmp_path}"], "--name", "a", "--mount", "volume=d,target=/d")
        assert r.returncode == 1 and (f"cannot add volumes to a running pod: its image does not declare "
                                      "pod/stage1/app-volumes (volume d)") in r.stderr, r.stderr
        assert manifest_volumes(pod, u) == [] and apps(pod, u) == []
    finally:
        stop_sandbox(pod, u)
