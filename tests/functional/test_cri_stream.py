"""`pod cri`: the streaming server. Exec and PortForward answer with a URL of the streaming server holding a
single-use token; a websocket client (Debian's python3-websocket) opens it with the kubelet's channel protocol
(v5/v4.channel.k8s.io: each binary message starts with its channel: 0 stdin, 1 stdout, 2 stderr, 3 the
metav1.Status, 4 resize, 255 close) and gets the command's exact output and exit status; port-forward reaches
127.0.0.1:PORT in the sandbox's network namespace. Used, unknown and non-websocket requests are refused, and a
client that goes away mid-exec leaves no process behind."""
import json
import os
import time
import urllib.error
import urllib.request

import grpc
import pytest

from cri_helpers import api, code_of, cri, needs_cri  # noqa: F401 (fixtures)
from conftest import needs_root
from registry_helpers import needs_registry, registry  # noqa: F401 (fixture)
from runhelpers import STAGE1
from test_cri_pods import container_config, layout, pulled, sandbox_config  # noqa: F401 (fixtures)

try:
    import websocket
except ImportError:
    websocket = None

pytestmark = [needs_root(), needs_registry, needs_cri,
              pytest.mark.skipif(websocket is None, reason="needs python3-websocket (scripts/install-deps)")]

V5, V4 = "v5.channel.k8s.io", "v4.channel.k8s.io"


def wait_until(cond, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def running(pulled, api, tmp_path):
    """(server, sandbox ID, container ID of a container that sleeps, image reference)."""
    srv, ref = pulled
    rt = srv.runtime
    sid = rt.RunPodSandbox(api.RunPodSandboxRequest(config=sandbox_config(api, tmp_path, "st")),
                           timeout=120).pod_sandbox_id
    cid = rt.CreateContainer(api.CreateContainerRequest(
        pod_sandbox_id=sid, config=container_config(api, ref, "main", "exec /bin/busybox sleep 600")),
        timeout=120).container_id
    rt.StartContainer(api.StartContainerRequest(container_id=cid), timeout=60)
    return srv, sid, cid, ref


def exec_url(srv, api, cid, cmd, stdin=False, stdout=True, stderr=True, tty=False):
    return srv.runtime.Exec(api.ExecRequest(container_id=cid, cmd=cmd, stdin=stdin, stdout=stdout, stderr=stderr,
                                            tty=tty), timeout=30).url


def connect(url, protocol=V5):
    return websocket.create_connection(url, subprotocols=[protocol] if protocol else None, timeout=30)


def read_channels(ws, timeout=30):
    """Every message until the server closes: {channel: bytes} (messages of a channel concatenated)."""
    out = {}
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, f"the stream did not end: {out}"
        try:
            opcode, data = ws.recv_data()
        except websocket.WebSocketConnectionClosedException:
            return out
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return out
        assert opcode == websocket.ABNF.OPCODE_BINARY, opcode
        out[data[0]] = out.get(data[0], b"") + data[1:]


def status_of(channels):
    return json.loads(channels[3].decode())


def test_exec_stdio_and_exit_code(running, api):
    srv, _, cid, _ = running
    url = exec_url(srv, api, cid, ["/bin/sh", "-c", "read x; echo out:$x; echo err >&2; exit 3"], stdin=True)
    assert url.startswith("http://127.0.0.1:") and "/exec/" in url, url
    ws = connect(url.replace("http://", "ws://"))
    assert ws.getsubprotocol() == V5
    ws.send_binary(b"\x00hello\n")
    ch = read_channels(ws)
    assert ch[1] == b"out:hello\n" and ch[2] == b"err\n", ch
    assert status_of(ch) == {
        "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
        "message": "command terminated with non-zero exit code: error executing command "
                   "[/bin/sh -c read x; echo out:$x; echo err >&2; exit 3], exit code 3",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}


def test_exec_success_v4_and_stdin_close_v5(running, api):
    srv, _, cid, _ = running
    ws = connect(exec_url(srv, api, cid, ["/bin/echo", "ok"], stderr=False).replace("http://", "ws://"), V4)
    assert ws.getsubprotocol() == V4
    ch = read_channels(ws)
    assert ch[1] == b"ok\n" and 2 not in ch
    assert status_of(ch) == {"metadata": {}, "status": "Success"}
    # v5: closing stdin (channel 255, stream 0) is EOF for the command.
    ws = connect(exec_url(srv, api, cid, ["/bin/cat"], stdin=True).replace("http://", "ws://"))
    ws.send_binary(b"\x00abc")
    ws.send_binary(b"\x00def\n")
    ws.send_binary(b"\xff\x00")
    ch = read_channels(ws)
    assert ch[1] == b"abcdef\n" and status_of(ch) == {"metadata": {}, "status": "Success"}


def test_exec_tty_and_resize(running, api):
    srv, _, cid, _ = running
    url = exec_url(srv, api, cid, ["/bin/sh", "-c", "read x; test -t 0 && echo tty:$x; /bin/busybox stty size"],
                   stdin=True, stderr=False, tty=True)
    ws = connect(url.replace("http://", "ws://"))
    ws.send_binary(b'\x04{"Width":100,"Height":40}')
    ws.send_binary(b"\x00go\r")
    ch = read_channels(ws)
    # The terminal echoes the input (go\r\n), then the command's lines with the tty's \r\n.
    assert ch[1] == b"go\r\ntty:go\r\n40 100\r\n", ch
    assert status_of(ch) == {"metadata": {}, "status": "Success"}


def test_tokens_are_single_use_and_unknown_ones_404(running, api):
    srv, _, cid, _ = running
    url = exec_url(srv, api, cid, ["/bin/echo", "once"], stderr=False).replace("http://", "ws://")
    assert read_channels(connect(url))[1] == b"once\n"
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        connect(url)
    assert e.value.status_code == 404
    base = url[:url.index("/exec/")]
    for path in ("/exec/0123456789abcdef0123456789abcdef", "/portforward/nope", "/attach/x", "/other"):
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            connect(base + path)
        assert e.value.status_code == 404, path
    # A plain request (no upgrade: SPDY is not served) to a valid token is refused and leaves the token unused.
    url = exec_url(srv, api, cid, ["/bin/echo", "later"], stderr=False)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url, timeout=30)
    assert e.value.code == 400
    assert read_channels(connect(url.replace("http://", "ws://")))[1] == b"later\n"


def test_exec_bad_requests(running, api):
    srv, sid, cid, _ = running
    rt = srv.runtime
    assert code_of(lambda: rt.Exec(api.ExecRequest(container_id=sid + "_nope", cmd=["x"], stdout=True)))[0] == \
        grpc.StatusCode.NOT_FOUND
    for req, msg in ((dict(cmd=[], stdout=True), "Exec: cmd is empty"),
                     (dict(cmd=["x"]), "Exec: one of stdin, stdout and stderr must be set"),
                     (dict(cmd=["x"], tty=True, stdout=True, stderr=True),
                      "Exec: tty and stderr cannot both be set (a tty has one output)")):
        assert code_of(lambda: rt.Exec(api.ExecRequest(container_id=cid, **req))) == \
            (grpc.StatusCode.INVALID_ARGUMENT, msg)
    assert code_of(lambda: rt.PortForward(api.PortForwardRequest(pod_sandbox_id="f" * 32, port=[80])))[0] == \
        grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: rt.PortForward(api.PortForwardRequest(pod_sandbox_id=sid, port=[70000]))) == \
        (grpc.StatusCode.INVALID_ARGUMENT, "PortForward: port 70000 is not a TCP port (1-65535)")


def sleepers(arg):
    """Host pids of the processes running `busybox sleep ARG`."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if f.read().split(b"\0")[:3] == [b"/bin/busybox", b"sleep", arg.encode()]:
                    found.append(int(p))
        except OSError:
            pass
    return found


def test_client_disconnect_kills_the_command(running, api):
    srv, _, cid, _ = running
    # A shell that ignores SIGTERM and SIGHUP and starts the sleeper as a child of its own.
    url = exec_url(srv, api, cid, ["/bin/sh", "-c", "trap '' TERM HUP; /bin/busybox sleep 4321; echo after"],
                   stdin=True)
    ws = connect(url.replace("http://", "ws://"))
    wait_until(lambda: sleepers("4321"), 30, "the sleep to start")
    ws.sock.close()  # gone without a close frame
    wait_until(lambda: not sleepers("4321"), 15, "the sleep to be killed")


def test_port_forward(running, api, tmp_path):
    srv, sid, _, ref = running
    rt = srv.runtime
    echo = rt.CreateContainer(api.CreateContainerRequest(
        pod_sandbox_id=sid, config=container_config(api, ref, "echo", "exec /bin/busybox nc -ll -p 8080 -e /bin/cat")),
        timeout=120).container_id
    rt.StartContainer(api.StartContainerRequest(container_id=echo), timeout=60)

    def listening():
        r = rt.ExecSync(api.ExecSyncRequest(container_id=echo, cmd=["/bin/busybox", "netstat", "-ltn"], timeout=10))
        return b":8080 " in r.stdout
    wait_until(listening, 30, "the echo server")
    url = rt.PortForward(api.PortForwardRequest(pod_sandbox_id=sid, port=[8080]), timeout=30).url
    assert url.startswith("http://127.0.0.1:") and "/portforward/" in url, url
    for protocol in (V4, None):  # the kubelet serves it without a subprotocol too
        url = rt.PortForward(api.PortForwardRequest(pod_sandbox_id=sid, port=[8080]), timeout=30).url
        ws = connect(url.replace("http://", "ws://"), protocol)
        # The port, little-endian, opens the data channel (0) and the error channel (1).
        assert sorted(ws.recv_data()[1] for _ in range(2)) == [b"\x00\x90\x1f", b"\x01\x90\x1f"]
        ws.send_binary(b"\x00ping\n")
        got = b""
        while len(got) < 5:
            opcode, data = ws.recv_data()
            assert opcode == websocket.ABNF.OPCODE_BINARY and data[0] == 0, (opcode, data)
            got += data[1:]
        assert got == b"ping\n"
        ws.close()
    # ?port= in the URL takes the place of the RPC's ports; a closed port is an error on the error channel.
    url = rt.PortForward(api.PortForwardRequest(pod_sandbox_id=sid, port=[8080]), timeout=30).url
    ws = connect(url.replace("http://", "ws://") + "?port=9", V4)
    ch = read_channels(ws)
    assert ch[0] == b"\x09\x00"
    assert ch[1] == b"\x09\x00cannot connect to 127.0.0.1:9 in pod " + sid.encode() + b": Connection refused", ch


@pytest.mark.skipif(not os.path.exists(STAGE1["kvm"]), reason="kvm stage1 image was not built")
def test_port_forward_into_a_vm_sandbox_is_refused_on_the_error_channel(cri, api, tmp_path):
    """A kvm sandbox's apps are in the guest: its stage1 does not declare pod/stage1/netns shared, and the
    connection fails with that said, not with a connect to the host side's 127.0.0.1."""
    srv = cri("--stage1-flavor=kvm", "--net=none")
    rt = srv.runtime
    sid = rt.RunPodSandbox(api.RunPodSandboxRequest(config=sandbox_config(api, tmp_path, "vm")),
                           timeout=300).pod_sandbox_id
    try:
        url = rt.PortForward(api.PortForwardRequest(pod_sandbox_id=sid, port=[8080]), timeout=30).url
        ch = read_channels(connect(url.replace("http://", "ws://"), V4))
        assert ch[0] == b"\x90\x1f"
        assert ch[1] == (b"\x90\x1fcannot connect into pod " + sid.encode() + b": its stage1 (pod/stage1-kvm) does "
                         b"not declare pod/stage1/netns shared (its apps are not in a network namespace of the "
                         b"host)"), ch
    finally:
        rt.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=120)
        rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=120)
