"""`pod cri`: container logs as the kubelet reads them. The sandbox's log_directory + the container's log_path is
written by the pod init in the CRI log format (`TIME STREAM F|P CONTENT`), ContainerStatus reports the path, and
ReopenContainerLog (after the kubelet renamed the file away) makes the init write a new file at the path."""
import os
import re
import time

import grpc

from cri_helpers import api, code_of, cri, needs_cri  # noqa: F401 (fixtures)
from conftest import needs_root
from registry_helpers import needs_registry, registry  # noqa: F401 (fixture)
from test_cri_pods import container_config, layout, pulled, sandbox_config  # noqa: F401 (fixtures)

pytestmark = [needs_root(), needs_registry, needs_cri]

RECORD = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{0,8}[1-9])?Z) (stdout|stderr) ([PF]) (.*)$")


def records(path):
    """[(stream, tag, content)] of a CRI log file; every line must be a well-formed record."""
    out = []
    with open(path, "rb") as f:
        data = f.read().decode()
    assert data == "" or data.endswith("\n"), repr(data[-80:])
    for line in data.split("\n")[:-1]:
        m = RECORD.match(line)
        assert m, f"not a CRI log record: {line[:120]!r}"
        out.append((m.group(2), m.group(3), m.group(4)))
    return out


def wait_until(cond, timeout=30):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def run_sandbox(srv, api, tmp_path, name="logs"):
    return srv.runtime.RunPodSandbox(api.RunPodSandboxRequest(config=sandbox_config(api, tmp_path, name)),
                                     timeout=120).pod_sandbox_id


def create(srv, api, ref, sid, name, script):
    """A container of sandbox `sid` running `script`: its ID (created, not started)."""
    return srv.runtime.CreateContainer(api.CreateContainerRequest(
        pod_sandbox_id=sid, config=container_config(api, ref, name, script)), timeout=120).container_id


def test_output_in_the_cri_format(pulled, api, tmp_path):
    srv, ref = pulled
    rt = srv.runtime
    sid = run_sandbox(srv, api, tmp_path)
    # A full line on each stream, a line longer than 16 KiB (a partial piece, then the rest), and a last line
    # without a newline (partial, as containerd tags it).
    script = "echo one; echo err1 >&2; /bin/busybox head -c 20000 /dev/zero | /bin/busybox tr '\\0' x; echo; printf tail"
    cid = create(srv, api, ref, sid, "c", script)
    path = str(tmp_path / "logs-logs-0" / "c" / "0.log")
    assert rt.ContainerStatus(api.ContainerStatusRequest(container_id=cid)).status.log_path == path
    rt.StartContainer(api.StartContainerRequest(container_id=cid), timeout=60)
    wait_until(lambda: rt.ContainerStatus(api.ContainerStatusRequest(container_id=cid)).status.state ==
               api.CONTAINER_EXITED)
    recs = records(path)
    assert [r for r in recs if r[0] == "stdout"] == [
        ("stdout", "F", "one"), ("stdout", "P", "x" * 16384), ("stdout", "F", "x" * (20000 - 16384)),
        ("stdout", "P", "tail")]
    assert [r for r in recs if r[0] == "stderr"] == [("stderr", "F", "err1")]
    # An exited container's log cannot be reopened (nothing writes it any more).
    code, msg = code_of(lambda: rt.ReopenContainerLog(api.ReopenContainerLogRequest(container_id=cid)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "is not running" in msg
    code, _ = code_of(lambda: rt.ReopenContainerLog(api.ReopenContainerLogRequest(container_id=sid + "_nope-0")))
    assert code == grpc.StatusCode.NOT_FOUND
    rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)
    assert records(path)[-1] == ("stdout", "P", "tail")  # the log stays: it is the kubelet's to remove
    srv.stop()


def test_reopen_after_rotation(pulled, api, tmp_path):
    srv, ref = pulled
    rt = srv.runtime
    sid = run_sandbox(srv, api, tmp_path)
    script = "i=0; while :; do i=$((i+1)); echo n$i; /bin/busybox sleep 0.1; done"
    cid = create(srv, api, ref, sid, "r", script)
    rt.StartContainer(api.StartContainerRequest(container_id=cid), timeout=60)
    path = str(tmp_path / "logs-logs-0" / "r" / "0.log")
    wait_until(lambda: os.path.exists(path) and len(records(path)) >= 3)
    os.rename(path, path + ".1")  # the kubelet's rotation: rename, then ReopenContainerLog
    rt.ReopenContainerLog(api.ReopenContainerLogRequest(container_id=cid), timeout=30)
    wait_until(lambda: os.path.exists(path) and len(records(path)) >= 3)
    old, new = records(path + ".1"), records(path)
    # Every line once, in order, across the two files: the old one ends where the new one starts.
    lines = [c for _, _, c in old + new]
    assert lines == [f"n{i}" for i in range(1, len(lines) + 1)]
    assert all(t == "F" and s == "stdout" for s, t, _ in old + new)
    size = os.path.getsize(path + ".1")
    time.sleep(0.5)
    assert os.path.getsize(path + ".1") == size  # nothing goes to the renamed file any more
    rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)
    srv.stop()


def test_log_paths_that_are_refused(pulled, api, tmp_path):
    srv, ref = pulled
    rt = srv.runtime
    sid = run_sandbox(srv, api, tmp_path)
    for bad in ("../escape.log", "/abs/0.log", "c/../../x.log"):
        cfg = container_config(api, ref, "c", "true")
        cfg.log_path = bad
        code, msg = code_of(lambda: rt.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=cfg)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "inside the sandbox's log_directory" in msg, (bad, msg)
    rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)
    no_dir = sandbox_config(api, tmp_path, "nodir")
    no_dir.log_directory = ""
    sid = rt.RunPodSandbox(api.RunPodSandboxRequest(config=no_dir), timeout=120).pod_sandbox_id
    code, msg = code_of(lambda: rt.CreateContainer(api.CreateContainerRequest(
        pod_sandbox_id=sid, config=container_config(api, ref, "c", "true"))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "needs the sandbox's log_directory" in msg
    rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)
    srv.stop()
