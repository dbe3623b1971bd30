"""CRI container mounts (Documentation/kubernetes.md, "Mounts"): each ContainerConfig.mounts entry is a host
volume the sandbox gains with the container (Runtime::add_app with AppSpec::volumes): a rw directory the host
sees written, a read-only one (all the way down) that gives EROFS, a file (an /etc/hosts of the kubelet's),
what pod cannot do refused with INVALID_ARGUMENT, and nothing left mounted once the container or the sandbox
is gone."""
import json
import os
import subprocess

import grpc

from conftest import needs_root
from cri_helpers import api, code_of, cri, needs_cri  # noqa: F401 (fixtures)
from registry_helpers import needs_registry, registry  # noqa: F401 (fixture)
from test_cri_pods import container_config, exec_sync, layout, pulled, sandbox_config  # noqa: F401 (fixtures)

pytestmark = [needs_root(), needs_registry, needs_cri]


def mount_lines(pid="self"):
    with open(f"/proc/{pid}/mountinfo") as f:
        return f.read().splitlines()


def pod_file(srv, sid, name):
    with open(os.path.join(srv.pod.dir, "pods", "run", sid, name)) as f:
        return f.read()


def test_container_mounts(pulled, api, tmp_path):
    srv, ref = pulled
    rt = srv.runtime
    # The kubelet sends recursive_read_only only to a handler that says it has it.
    [handler] = rt.Status(api.StatusRequest()).runtime_handlers
    assert (handler.name, handler.features.recursive_read_only_mounts, handler.features.user_namespaces) == (
        "", True, False)
    data, ro, hosts = tmp_path / "data", tmp_path / "ro", tmp_path / "hosts"
    data.mkdir()
    os.chmod(data, 0o777)  # the image runs as uid 1000 (as a kubelet's emptyDir, writable by all)
    (data / "keep").write_text("untouched\n")
    (ro / "sub").mkdir(parents=True)
    (ro / "f").write_text("read only\n")
    hosts.write_text("192.0.2.7\tmounted.test\n")
    os.chmod(hosts, 0o666)  # writable by the container's user: the read-only mount is what refuses
    # A mount below the read-only dir: recursive_read_only makes it read-only in the container too.
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(ro / "sub")], check=True)
    try:
        sid = rt.RunPodSandbox(api.RunPodSandboxRequest(config=sandbox_config(api, tmp_path)),
                               timeout=120).pod_sandbox_id
        cfg = container_config(api, ref, "a", "exec /bin/busybox sleep 300")
        cfg.mounts.extend([
            api.Mount(container_path="/data", host_path=str(data)),
            api.Mount(container_path="/ro", host_path=str(ro), readonly=True, recursive_read_only=True),
            api.Mount(container_path="/etc/hosts", host_path=str(hosts), readonly=True, selinux_relabel=True)])
        cid = rt.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=cfg), timeout=120).container_id
        rt.StartContainer(api.StartContainerRequest(container_id=cid), timeout=60)

        r = exec_sync(srv, api, cid, "/bin/sh", "-c", "echo written > /data/out && cat /data/keep")
        assert (r.exit_code, r.stdout, r.stderr) == (0, b"untouched\n", b"")
        assert (data / "out").read_text() == "written\n" and os.stat(data / "out").st_uid == 1000
        for path in ("/ro/new", "/ro/sub/new"):
            r = exec_sync(srv, api, cid, "/bin/busybox", "touch", path)
            assert (r.exit_code, r.stderr) == (1, f"touch: {path}: Read-only file system\n".encode()), r
        assert sorted(os.listdir(ro)) == ["f", "sub"] and os.listdir(ro / "sub") == []
        assert exec_sync(srv, api, cid, "/bin/busybox", "cat", "/ro/f").stdout == b"read only\n"
        r = exec_sync(srv, api, cid, "/bin/busybox", "cat", "/etc/hosts")
        assert (r.exit_code, r.stdout) == (0, b"192.0.2.7\tmounted.test\n")
        r = exec_sync(srv, api, cid, "/bin/sh", "-c", "echo x >> /etc/hosts")
        assert (r.exit_code, r.stderr) == (1, b"/bin/sh: can't create /etc/hosts: Read-only file system\n"), r
        assert hosts.read_text() == "192.0.2.7\tmounted.test\n"

        # The sandbox's manifest records the volumes with the container; in the pod they are at /host-volumes.
        manifest = json.loads(pod_file(srv, sid, "pod"))
        assert sorted((v["name"], v["source"], v.get("readOnly", False)) for v in manifest["volumes"]) == [
            ("m0-a-0", str(data), False), ("m1-a-0", str(ro), True), ("m2-a-0", str(hosts), True)]
        init = pod_file(srv, sid, "pid").strip()
        in_pod = [ln.split()[4] for ln in mount_lines(init)]
        assert {"/host-volumes/m0-a-0", "/host-volumes/m1-a-0", "/host-volumes/m2-a-0"} <= set(in_pod)

        # A second container mounting the same host dir, left in place for RemovePodSandbox.
        cfg_b = container_config(api, ref, "b", "exec /bin/busybox sleep 300")
        cfg_b.mounts.append(api.Mount(container_path="/d", host_path=str(data)))
        cid_b = rt.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=cfg_b),
                                   timeout=120).container_id
        rt.StartContainer(api.StartContainerRequest(container_id=cid_b), timeout=60)
        assert exec_sync(srv, api, cid_b, "/bin/busybox", "cat", "/d/out").stdout == b"written\n"
        # Removed with the container: unmounted in the pod, gone from the manifest.
        rt.StopContainer(api.StopContainerRequest(container_id=cid, timeout=5), timeout=60)
        rt.RemoveContainer(api.RemoveContainerRequest(container_id=cid), timeout=60)
        assert [v["name"] for v in json.loads(pod_file(srv, sid, "pod"))["volumes"]] == ["m0-b-0"]
        assert [ln.split()[4] for ln in mount_lines(init) if "/host-volumes/m" in ln] == ["/host-volumes/m0-b-0"]

        rt.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=60)
        rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)
        srv.pod.run("gc", "--grace-period=0s", timeout=120, check=0)
        # Nothing of the host paths is mounted anywhere on the host; the host dirs hold what they held.
        assert not [ln for ln in mount_lines() if str(data) in ln or str(hosts) in ln]
        assert [ln for ln in mount_lines() if str(ro) in ln] == [ln for ln in mount_lines() if str(ro / "sub") in ln]
        assert sorted(os.listdir(data)) == ["keep", "out"] and (data / "keep").read_text() == "untouched\n"
        srv.stop()
    finally:
        subprocess.run(["umount", str(ro / "sub")], check=True)


def test_bad_mounts_are_refused(pulled, api, tmp_path):
    srv, ref = pulled
    rt = srv.runtime
    sid = rt.RunPodSandbox(api.RunPodSandboxRequest(config=sandbox_config(api, tmp_path)), timeout=120).pod_sandbox_id
    d = tmp_path / "d"
    d.mkdir()
    inv = grpc.StatusCode.INVALID_ARGUMENT

    def create(**mount):
        cfg = container_config(api, ref, "a", "true")
        cfg.mounts.append(api.Mount(**mount))
        return code_of(lambda: rt.CreateContainer(api.CreateContainerRequest(pod_sandbox_id=sid, config=cfg),
                                                  timeout=120))

    missing = str(tmp_path / "no-such-dir")
    assert create(container_path="/x", host_path=missing) == (
        inv, f"volume m0-a-0: source {missing} does not exist")
    assert create(container_path="rel", host_path=str(d)) == (
        inv, 'app a-0: mount of volume m0-a-0 at: "rel" must be an absolute path')
    assert create(container_path="/data/../../etc", host_path=str(d)) == (
        inv, 'app a-0: mount of volume m0-a-0 at: "/data/../../etc" must not contain ".."')
    code, msg = create(container_path="/x", host_path=str(d), propagation=api.PROPAGATION_BIDIRECTIONAL)
    assert (code, msg) == (inv, f"mounts[0] ({d} at /x): propagation PROPAGATION_BIDIRECTIONAL is not supported "
                                "(only PROPAGATION_PRIVATE)")
    code, msg = create(container_path="/x", host_path=str(d), propagation=api.PROPAGATION_HOST_TO_CONTAINER)
    assert code == inv and "PROPAGATION_HOST_TO_CONTAINER is not supported" in msg
    assert create(container_path="/x", image=api.ImageSpec(image=ref)) == (
        inv, "mounts[0] ( at /x): image mounts are not supported")
    code, msg = create(container_path="/x", host_path=str(d),
                       uidMappings=[api.IDMapping(host_id=1000, container_id=0, length=1)])
    assert (code, msg) == (inv, f"mounts[0] ({d} at /x): uid/gid mappings of mounts are not supported")
    assert create(container_path="/x", host_path=str(d), recursive_read_only=True) == (
        inv, f"mounts[0] ({d} at /x): recursive_read_only needs readonly")
    # None of them left a container or a volume behind.
    assert list(rt.ListContainers(api.ListContainersRequest()).containers) == []
    assert json.loads(pod_file(srv, sid, "pod")).get("volumes", []) == []
    rt.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=60)
    rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=60)
    srv.stop()
