"""CRI UpdateContainerResources (Documentation/kubernetes.md): a running container's memory and CPU limits
change at once in its cgroups (pod app update underneath), what the kubelet cannot change is refused with the
status the CRI expects, and the new limit is enforced (an ExecSync past it is OOM-killed)."""
import glob
import json
import os

import grpc

from conftest import needs_root
from cri_helpers import api, code_of, cri, needs_cri  # noqa: F401 (fixtures)
from registry_helpers import needs_registry, registry  # noqa: F401 (fixture)
from test_isolation import v1_controller_dir
from test_cri_pods import container_config, exec_sync, layout, pulled, sandbox_config  # noqa: F401 (fixtures)

pytestmark = [needs_root(), needs_registry, needs_cri]


def app_cgroup(controller, sid):
    """The container's cgroup dir of `controller`: v1 on hybrid hosts, else the pod's cgroup2 tree."""
    base = v1_controller_dir(controller)
    pattern = (os.path.join(base, "pod", f"pod-{sid}", "app-*") if base else
               f"/sys/fs/cgroup/unified/**/pod-{sid}/app-*")
    [d] = glob.glob(pattern, recursive=True)
    return d, base is not None


def read(d, name):
    with open(os.path.join(d, name)) as f:
        return f.read().strip()


def test_update_container_resources(pulled, api, tmp_path):
    srv, ref = pulled
    rt = srv.runtime
    sid = rt.RunPodSandbox(api.RunPodSandboxRequest(config=sandbox_config(api, tmp_path)), timeout=120).pod_sandbox_id
    cfg = container_config(api, ref, "a", "exec /bin/busybox sleep 300")
    cfg.linux.resources.CopyFrom(api.LinuxContainerResources(
        memory_limit_in_bytes=64 << 20, cpu_shares=512, cpu_period=100000, cpu_quota=50000, oom_score_adj=100))
    cid = rt.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=cfg), timeout=120).container_id
    rt.StartContainer(api.StartContainerRequest(container_id=cid), timeout=60)
    mem, v1 = app_cgroup("memory", sid)
    cpu, _ = app_cgroup("cpu", sid)
    limit = "memory.limit_in_bytes" if v1 else "memory.max"
    assert read(mem, limit) == str(64 << 20)
    assert (read(cpu, "cpu.cfs_quota_us") if v1 else read(cpu, "cpu.max")) == ("50000" if v1 else "50000 100000")

    def update(**res):
        rt.UpdateContainerResources(api.UpdateContainerResourcesRequest(
            container_id=cid, linux=api.LinuxContainerResources(**res)), timeout=60)

    # Lowered: written at once, and enforced on what runs in the container.
    update(memory_limit_in_bytes=32 << 20, cpu_shares=512, cpu_period=100000, cpu_quota=25000, oom_score_adj=100)
    assert read(mem, limit) == str(32 << 20)
    if v1 and os.path.exists(os.path.join(mem, "memory.memsw.limit_in_bytes")):
        assert read(mem, "memory.memsw.limit_in_bytes") == str(32 << 20)  # no swap beyond the limit
    assert (read(cpu, "cpu.cfs_quota_us") if v1 else read(cpu, "cpu.max")) == ("25000" if v1 else "25000 100000")
    alloc = ("/bin/sh", "-c", "dd if=/dev/zero of=/dev/null bs=48M count=1 2>/dev/null && echo ok")
    assert exec_sync(srv, api, cid, *alloc).exit_code == 137
    # Raised past what the allocation needs (v1: memsw first, so the kernel never sees memsw < limit).
    update(memory_limit_in_bytes=128 << 20, cpu_shares=512, oom_score_adj=100)
    assert read(mem, limit) == str(128 << 20)
    r = exec_sync(srv, api, cid, *alloc)
    assert (r.exit_code, r.stdout) == (0, b"ok\n")
    # The manifest records what is in force.
    [app] = json.loads(srv.pod.run("status", "--format=json", sid, check=0).stdout)["apps"]
    assert {"name": "resource/memory", "value": {"limit": "134217728"}} in app["isolators"], app

    # What cannot change in a running container is refused, and nothing is written.
    code, msg = code_of(lambda: update(memory_limit_in_bytes=16 << 20, oom_score_adj=500))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "oom_score_adj cannot change" in msg, msg
    code, msg = code_of(lambda: update(memory_limit_in_bytes=16 << 20, oom_score_adj=100, cpuset_cpus="0"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "cpuset" in msg, msg
    assert read(mem, limit) == str(128 << 20)
    code, msg = code_of(lambda: rt.UpdateContainerResources(api.UpdateContainerResourcesRequest(
        container_id=sid + "_nope", linux=api.LinuxContainerResources(memory_limit_in_bytes=1 << 20))))
    assert code == grpc.StatusCode.NOT_FOUND, msg
    code, msg = code_of(lambda: rt.UpdateContainerResources(api.UpdateContainerResourcesRequest(container_id=cid)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "no linux resources" in msg, msg

    rt.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=60)
    rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)
    srv.stop()
