"""`pod cri`: the kubelet's sequence for sandboxes and containers through a gRPC client built from the same
api.proto: a sandbox with two containers sharing its network, ExecSync, stats, stop, remove; unknown IDs and
malformed configs get the status codes the CRI expects; restarting the server midway loses nothing, and a
sandbox whose server is gone is still stoppable and collectable with pod itself."""
import json
import os
import time

import grpc
import pytest

from conftest import Pod, needs_root
from cri_helpers import CriServer, api, code_of, cri, needs_cri  # noqa: F401 (fixtures)
from oci_helpers import build_layout
from registry_helpers import needs_registry, registry  # noqa: F401 (fixture)

pytestmark = [needs_root(), needs_registry, needs_cri]


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return build_layout(str(tmp_path_factory.mktemp("oci")))


@pytest.fixture
def pulled(cri, api, registry, layout, monkeypatch, tmp_path):
    """A server with the busybox test image pulled from a real registry: (server, image reference)."""
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    reg = registry()
    reg.push(layout, "busybox", "t1")
    srv = cri("--insecure-registry", reg.host)
    ref = reg.ref("busybox", "t1")
    srv.images.PullImage(api.PullImageRequest(image=api.ImageSpec(image=ref)))
    reg.stop()
    return srv, ref


def sandbox_config(api, tmp_path, name="web", attempt=0):
    logs = tmp_path / f"logs-{name}-{attempt}"
    logs.mkdir(exist_ok=True)
    return api.PodSandboxConfig(
        metadata=api.PodSandboxMetadata(name=name, uid=f"uid-{name}", namespace="default", attempt=attempt),
        hostname=f"{name}-host", log_directory=str(logs), labels={"app": name, "tier": "test"},
        annotations={"example.com/note": "hi"}, dns_config=api.DNSConfig(servers=["192.0.2.53"], searches=["svc.test"]))


def container_config(api, ref, name, script, attempt=0):
    return api.ContainerConfig(metadata=api.ContainerMetadata(name=name, attempt=attempt),
                               image=api.ImageSpec(image=ref), command=["/bin/sh", "-c", script],
                               envs=[api.KeyValue(key="NAME", value=name.encode())], labels={"c": name},
                               log_path=f"{name}/0.log")


def exec_sync(srv, api, cid, *cmd, timeout=30):
    return srv.runtime.ExecSync(api.ExecSyncRequest(container_id=cid, cmd=list(cmd), timeout=timeout), timeout=60)


def states(srv, api, **filt):
    return {c.metadata.name: c.state for c in
            srv.runtime.ListContainers(api.ListContainersRequest(filter=api.ContainerFilter(**filt))).containers}


def test_the_kubelets_sequence(pulled, api, tmp_path):
    srv, ref = pulled
    rt = srv.runtime
    sid = rt.RunPodSandbox(api.RunPodSandboxRequest(config=sandbox_config(api, tmp_path)), timeout=120).pod_sandbox_id
    st = rt.PodSandboxStatus(api.PodSandboxStatusRequest(pod_sandbox_id=sid)).status
    assert (st.id, st.state, st.metadata.name, st.metadata.namespace) == (sid, api.SANDBOX_READY, "web", "default")
    assert st.network.ip.startswith("172.16.28.")  # the default CNI network
    assert dict(st.labels) == {"app": "web", "tier": "test"} and st.annotations["example.com/note"] == "hi"
    assert st.created_at > 0
    # pod itself sees the sandbox as a running pod.
    pods = json.loads(srv.pod.run("list", "--format=json", check=0).stdout)
    assert [(p["uuid"], p["state"]) for p in pods] == [(sid, "running")]

    script = "echo hello-$NAME; exec /bin/busybox sleep 300"
    a = rt.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=container_config(api, ref, "a", script),
                                                      sandbox_config=sandbox_config(api, tmp_path, "x"))).container_id
    b = rt.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=container_config(api, ref, "b", script)),
                           timeout=120).container_id
    assert states(srv, api) == {"a": api.CONTAINER_CREATED, "b": api.CONTAINER_CREATED}
    for cid in (a, b):
        rt.StartContainer(api.StartContainerRequest(container_id=cid), timeout=60)
    assert states(srv, api) == {"a": api.CONTAINER_RUNNING, "b": api.CONTAINER_RUNNING}
    assert states(srv, api, label_selector={"c": "b"}) == {"b": api.CONTAINER_RUNNING}
    cs = rt.ContainerStatus(api.ContainerStatusRequest(container_id=a)).status
    assert cs.state == api.CONTAINER_RUNNING and cs.started_at >= cs.created_at > 0
    assert cs.image.image == ref and cs.image_ref.startswith("sha256:")
    assert cs.log_path == str(tmp_path / "logs-web-0" / "a" / "0.log")

    # ExecSync: output, exit code, the sandbox's hostname and one network namespace for both containers.
    r = exec_sync(srv, api, a, "/bin/sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.stdout, r.stderr, r.exit_code) == (b"out\n", b"err\n", 3)
    assert exec_sync(srv, api, a, "/bin/busybox", "hostname").stdout == b"web-host\n"
    net_a = exec_sync(srv, api, a, "/bin/busybox", "readlink", "/proc/self/ns/net").stdout
    net_b = exec_sync(srv, api, b, "/bin/busybox", "readlink", "/proc/self/ns/net").stdout
    assert net_a == net_b and net_a.startswith(b"net:[")
    assert b"192.0.2.53" in exec_sync(srv, api, b, "/bin/cat", "/etc/resolv.conf").stdout
    code, msg = code_of(lambda: exec_sync(srv, api, a, "/bin/busybox", "sleep", "5", timeout=1))
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED, msg

    stats = rt.ContainerStats(api.ContainerStatsRequest(container_id=a)).stats
    assert stats.attributes.id == a and stats.memory.working_set_bytes.value > 0
    listed = rt.ListContainerStats(api.ListContainerStatsRequest()).stats
    assert sorted(s.attributes.metadata.name for s in listed) == ["a", "b"]
    ps = rt.PodSandboxStats(api.PodSandboxStatsRequest(pod_sandbox_id=sid)).stats
    assert ps.attributes.id == sid and len(ps.linux.containers) == 2

    rt.StopContainer(api.StopContainerRequest(container_id=a, timeout=5), timeout=60)
    cs = rt.ContainerStatus(api.ContainerStatusRequest(container_id=a)).status
    assert cs.state == api.CONTAINER_EXITED and cs.exit_code == 143 and cs.reason == "Error"  # SIGTERM
    assert cs.finished_at >= cs.started_at
    rt.RemoveContainer(api.RemoveContainerRequest(container_id=a), timeout=60)
    assert states(srv, api) == {"b": api.CONTAINER_RUNNING}
    rt.RemoveContainer(api.RemoveContainerRequest(container_id=a))  # idempotent

    rt.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=60)
    assert rt.PodSandboxStatus(api.PodSandboxStatusRequest(pod_sandbox_id=sid)).status.state == api.SANDBOX_NOTREADY
    assert states(srv, api) == {"b": api.CONTAINER_EXITED}
    rt.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sid))  # idempotent
    rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)
    assert list(rt.ListPodSandbox(api.ListPodSandboxRequest()).items) == []
    assert json.loads(srv.pod.run("list", "--format=json", check=0).stdout) == []
    rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid))  # idempotent
    srv.stop()


def test_unknown_ids_and_bad_configs(pulled, api, tmp_path):
    srv, ref = pulled
    rt = srv.runtime
    nf = grpc.StatusCode.NOT_FOUND
    bogus = "0f0f0f0f-0000-4000-8000-000000000000"
    for call in (lambda: rt.PodSandboxStatus(api.PodSandboxStatusRequest(pod_sandbox_id=bogus)),
                 lambda: rt.ContainerStatus(api.ContainerStatusRequest(container_id=bogus + "_x-0")),
                 lambda: rt.StartContainer(api.StartContainerRequest(container_id="no-such-container")),
                 lambda: rt.CreateContainer(api.CreateContainerRequest(
                     pod_sandbox_id=bogus, config=container_config(api, ref, "a", "true")))):
        assert code_of(call)[0] == nf
    rt.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=bogus))  # gone already: not an error
    code, msg = code_of(lambda: rt.RunPodSandbox(api.RunPodSandboxRequest(config=api.PodSandboxConfig())))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "metadata needs name, uid and namespace" in msg
    cfg = sandbox_config(api, tmp_path, "bad")
    cfg.linux.security_context.privileged = True
    code, msg = code_of(lambda: rt.RunPodSandbox(api.RunPodSandboxRequest(config=cfg)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "privileged" in msg
    assert json.loads(srv.pod.run("list", "--format=json", check=0).stdout) == []  # nothing was made

    sid = rt.RunPodSandbox(api.RunPodSandboxRequest(config=sandbox_config(api, tmp_path)), timeout=120).pod_sandbox_id
    code, msg = code_of(lambda: rt.RunPodSandbox(api.RunPodSandboxRequest(config=sandbox_config(api, tmp_path))))
    assert code == grpc.StatusCode.ALREADY_EXISTS and sid in msg
    bad = container_config(api, ref, "m", "true")
    bad.mounts.add(host_path="/etc", container_path="/host-etc", propagation=api.PROPAGATION_BIDIRECTIONAL)
    code, msg = code_of(lambda: rt.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=bad)))
    assert (code, msg) == (grpc.StatusCode.INVALID_ARGUMENT, "mounts[0] (/etc at /host-etc): propagation "
                           "PROPAGATION_BIDIRECTIONAL is not supported (only PROPAGATION_PRIVATE)")  # test_cri_mounts.py
    big = container_config(api, ref, "r", "true")
    big.linux.resources.cpuset_cpus = "0"
    code, msg = code_of(lambda: rt.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=big)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "cpuset" in msg
    code, msg = code_of(lambda: rt.CreateContainer(api.CreateContainerRequest(
        pod_sandbox_id=sid, config=container_config(api, "127.0.0.1:1/never/pulled:x", "n", "true"))))
    assert code == nf and "not pulled" in msg
    assert states(srv, api) == {}
    rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)
    srv.stop()


def test_restart_midway_and_gc_without_the_server(pulled, api, cri, tmp_path):
    srv, ref = pulled
    sid = srv.runtime.RunPodSandbox(api.RunPodSandboxRequest(config=sandbox_config(api, tmp_path)),
                                    timeout=120).pod_sandbox_id
    cid = srv.runtime.CreateContainer(api.CreateContainerRequest(
        pod_sandbox_id=sid, config=container_config(api, ref, "a", "exec /bin/busybox sleep 300"))).container_id
    srv.runtime.StartContainer(api.StartContainerRequest(container_id=cid), timeout=60)
    srv.kill()  # kill -9 of the server: the sandbox and its container keep running
    again = cri(sock=srv.sock)
    items = again.runtime.ListPodSandbox(api.ListPodSandboxRequest()).items
    assert [(i.id, i.state, i.metadata.name) for i in items] == [(sid, api.SANDBOX_READY, "web")]
    assert states(again, api) == {"a": api.CONTAINER_RUNNING}
    assert exec_sync(again, api, cid, "/bin/busybox", "echo", "still").stdout == b"still\n"
    again.stop()
    # No server at all: pod stops and collects the sandbox like any pod.
    srv.pod.run("stop", sid, check=0, timeout=60)
    srv.pod.run("gc", "--grace-period=0", check=0, timeout=120)
    assert json.loads(srv.pod.run("list", "--format=json", check=0).stdout) == []



def test_a_sandbox_that_dies_at_once_fails_fast(api, pod, tmp_path):
    """A pod that cannot start (here: its data dir so deep that the stage1's notify socket path does not fit
    sun_path) fails RunPodSandbox at once with the pod's own error, not after create_sandbox's 60 s."""
    deep = Pod(os.path.join(pod.dir, "d" * 100))
    os.makedirs(deep.dir)
    srv = CriServer(deep, tmp_path, api=api)
    try:
        t0 = time.monotonic()
        code, msg = code_of(lambda: srv.runtime.RunPodSandbox(
            api.RunPodSandboxRequest(config=sandbox_config(api, tmp_path)), timeout=120))
        took = time.monotonic() - t0
        assert code == grpc.StatusCode.UNKNOWN, msg
        uuid = msg.split()[1]
        assert msg == (f"sandbox {uuid} exited while starting: pod dir path too long for a socket: "
                       f"{deep.dir}/pods/run/{uuid}/stage1-state/notify"), msg
        assert took < 30, f"RunPodSandbox took {took:.1f} s"
        # The dead pod is no ready sandbox, and gc collects it.
        items = srv.runtime.ListPodSandbox(api.ListPodSandboxRequest()).items
        assert [i.state for i in items] == [api.SANDBOX_NOTREADY]
        srv.stop()
    finally:
        srv.kill()
        deep.run("gc", "--grace-period=0", timeout=120)
