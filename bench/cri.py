#!/usr/bin/env python3
"""CRI: RunPodSandbox + CreateContainer + StartContainer of a busybox container until it runs, through one
Python gRPC client (stubs from src/cri/api.proto), `pod cri` against containerd 1.6 from Debian (its CRI
plugin, runc, a bridge CNI network), and 50 sandboxes at once. Used by bench/run (case "cri").

Both runtimes get the same image from the same local docker-registry, pulled before the timed loop; each
runs on its own data dir, set up once; tearing down (StopPodSandbox, RemovePodSandbox) is outside the
timing. containerd needs a pause image for its sandboxes: the same busybox image running `sleep` (pod needs
none). Its CNI network is a bridge on 10.99.0.0/24 (pod's: its built-in ptp `default`).
"""
import concurrent.futures
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))


def _stubs(tmp):
    out = os.path.join(tmp, "stubs")
    os.makedirs(out, exist_ok=True)
    proto = os.path.join(ROOT, "src", "cri")
    subprocess.run(["protoc", f"--proto_path={proto}", f"--python_out={out}", f"--grpc_python_out={out}",
                    f"--plugin=protoc-gen-grpc_python={shutil.which('grpc_python_plugin')}",
                    os.path.join(proto, "api.proto")], check=True, capture_output=True)
    sys.path.insert(0, out)
    pb2 = importlib.import_module("api_pb2")
    return pb2, importlib.import_module("api_pb2_grpc")


class Server:
    """A CRI server process on a unix socket, with its client stubs."""

    def __init__(self, argv, sock, log, grpc, pb2_grpc, timeout=60):
        self.log = log
        self.proc = subprocess.Popen(argv, stdout=open(log, "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not os.path.exists(sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{argv[0]} did not start: {open(log).read()[-400:]}")
            time.sleep(0.05)
        self.channel = grpc.insecure_channel(f"unix://{sock}")
        grpc.channel_ready_future(self.channel).result(timeout=timeout)
        self.rt = pb2_grpc.RuntimeServiceStub(self.channel)
        self.img = pb2_grpc.ImageServiceStub(self.channel)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _containerd_config(tmp, reg_host):
    cni = os.path.join(tmp, "cni")
    os.makedirs(cni, exist_ok=True)
    with open(os.path.join(cni, "10-bench.conflist"), "w") as f:
        json.dump({"cniVersion": "0.4.0", "name": "bench", "plugins": [
            {"type": "bridge", "bridge": "podbench0", "isGateway": True, "ipMasq": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.99.0.0/24"}]],
                      "dataDir": os.path.join(tmp, "ipam")}},
            {"type": "portmap", "capabilities": {"portMappings": True}}]}, f)
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    text = f"""version = 2
root = "{tmp}/containerd-root"
state = "{tmp}/containerd-state"
[grpc]
  address = "{tmp}/containerd.sock"
[ttrpc]
  address = "{tmp}/containerd.sock.ttrpc"
[{cri}]
  sandbox_image = "{reg_host}/pause:pause"
  [{cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}"
  [{cri}.registry.mirrors."{reg_host}"]
    endpoint = ["http://{reg_host}"]
  [{cri}.containerd]
    snapshotter = "overlayfs"
"""
    path = os.path.join(tmp, "containerd.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def _sequence(pb2, srv, ref, i, logdir):
    """One sandbox with one running busybox container; returns (seconds, sandbox id)."""
    t0 = time.perf_counter()
    cfg = pb2.PodSandboxConfig(metadata=pb2.PodSandboxMetadata(name=f"b{i}", uid=f"u{i}", namespace="bench"),
                               log_directory=logdir, hostname=f"b{i}")
    sid = srv.rt.RunPodSandbox(pb2.RunPodSandboxRequest(config=cfg), timeout=300).pod_sandbox_id
    ccfg = pb2.ContainerConfig(metadata=pb2.ContainerMetadata(name="c"), image=pb2.ImageSpec(image=ref),
                               command=["/bin/busybox", "sleep", "600"])
    cid = srv.rt.CreateContainer(pb2.CreateContainerRequest(pod_sandbox_id=sid, config=ccfg, sandbox_config=cfg),
                                 timeout=300).container_id
    srv.rt.StartContainer(pb2.StartContainerRequest(container_id=cid), timeout=300)
    st = srv.rt.ContainerStatus(pb2.ContainerStatusRequest(container_id=cid)).status.state
    dt = time.perf_counter() - t0
    if st != pb2.CONTAINER_RUNNING:
        raise RuntimeError(f"container {cid} is not running after StartContainer (state {st})")
    return dt, sid


def _teardown(pb2, srv, sids):
    for sid in sids:
        srv.rt.StopPodSandbox(pb2.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=120)
        srv.rt.RemovePodSandbox(pb2.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=120)


def _measure(pb2, srv, ref, n, at_once, logdir):
    """n sequential runs (seconds each), then `at_once` concurrent ones (wall seconds)."""
    samples = []
    for i in range(n):
        dt, sid = _sequence(pb2, srv, ref, i, logdir)
        samples.append(dt)
        _teardown(pb2, srv, [sid])
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=at_once) as ex:
        got = list(ex.map(lambda i: _sequence(pb2, srv, ref, 1000 + i, logdir), range(at_once)))
    wall = time.perf_counter() - t0
    _teardown(pb2, srv, [sid for _, sid in got])
    return samples, wall


def case_cri(ctx, t, pod):
    case = "cri sandbox+container"
    try:
        import grpc  # noqa: F401
    except ImportError:
        return t.skip(case, "python3-grpcio is not installed")
    for tool in ("protoc", "grpc_python_plugin", "docker-registry", "skopeo", "umoci"):
        if not shutil.which(tool):
            return t.skip(case, f"{tool} is not installed (scripts/install-deps)")
    if not os.path.exists(os.path.join(os.path.dirname(pod), "pod-cri")):
        return t.skip(case, "pod was built without gRPC (no pod-cri)")
    import grpc
    from oci_helpers import build_layout, umoci
    from registry_helpers import Registry
    # Short: a pod dir's sockets must fit sun_path (108 bytes) below DATA/pods/run/<uuid>/stage1-state/.
    tmp = tempfile.mkdtemp(prefix="pcri-", dir="/tmp")
    pb2, pb2_grpc = _stubs(tmp)
    n, at_once = (1, 3) if ctx.quick else (ctx.n, 50)
    os.environ.pop("REGISTRY_AUTH_FILE", None)
    reg = Registry(tmp)
    servers = []
    try:
        layout = build_layout(os.path.join(tmp, "oci"))
        umoci("config", "--image", f"{layout}:t1", "--tag", "pause", "--config.entrypoint", "/bin/busybox",
              "--config.cmd", "sleep", "--config.cmd", "2147483647")
        reg.push(layout, "busybox", "t1")
        reg.push(layout, "pause", "pause")
        ref = f"{reg.host}/busybox:t1"
        logdir = os.path.join(tmp, "logs")
        os.makedirs(logdir)
        rows = {}
        psock = os.path.join(tmp, "pod-cri.sock")
        p = Server([pod, "--dir", os.path.join(tmp, "pod-data"), "cri", f"--listen=unix://{psock}",
                    "--insecure-registry", reg.host], psock, os.path.join(tmp, "pod-cri.log"), grpc, pb2_grpc)
        servers.append(p)
        p.img.PullImage(pb2.PullImageRequest(image=pb2.ImageSpec(image=ref)), timeout=300)
        rows["pod cri"] = _measure(pb2, p, ref, n, at_once, logdir)
        p.stop()
        if shutil.which("containerd") and shutil.which("runc"):
            csock = os.path.join(tmp, "containerd.sock")
            c = Server(["containerd", "--config", _containerd_config(tmp, reg.host)], csock,
                       os.path.join(tmp, "containerd.log"), grpc, pb2_grpc)
            servers.append(c)
            try:
                for r in (ref, f"{reg.host}/pause:pause"):  # its sandboxes' image too, before the timing
                    c.img.PullImage(pb2.PullImageRequest(image=pb2.ImageSpec(image=r)), timeout=300)
                rows["containerd 1.6 (runc)"] = _measure(pb2, c, ref, n, at_once, logdir)
            except grpc.RpcError as e:  # the peer cannot run here: say why, no ratio
                t.add(case, "containerd 1.6 (runc)",
                      note=f"containerd could not run a container here: {e.details()}"[:240].replace("error:", "error -"))
        else:
            t.add(case, "containerd", note="containerd or runc is not installed: no ratio")
        peer = "containerd 1.6 (runc)" if "containerd 1.6 (runc)" in rows else None
        for name, (samples, wall) in rows.items():
            t.add(case, name, samples, ref=peer if name == "pod cri" else None, goal=0.5 if name == "pod cri" else None)
        for name, (samples, wall) in rows.items():
            t.add(f"cri {at_once} sandboxes at once", name, [wall], ref=peer if name == "pod cri" else None,
                  note="wall time until every container runs")
    finally:
        for s in servers:
            s.stop()
        reg.stop()
        subprocess.run(["ip", "link", "del", "podbench0"], capture_output=True)
        subprocess.run(["umount", "-R", "-l", tmp], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
