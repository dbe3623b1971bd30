"""The appc metadata service: `pod metadata-service` and `--mds-register`, with real pods and HTTP clients (busybox
wget inside the pod, urllib on the host)."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import POD_BIN
from runhelpers import BUSYBOX_ACI, STAGE1, flavor_skip_reason, run_pod, sh

pytestmark = pytest.mark.skipif(flavor_skip_reason("nspawn") is not None, reason=str(flavor_skip_reason("nspawn")))

FLAVOR = "Metadata-Flavor: AppContainer"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    def __init__(self, pod):
        self.pod = pod
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([POD_BIN, "--dir", self.pod.dir, "metadata-service", "--listen",
                                      f"tcp://127.0.0.1:{self.port}"], stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        assert f"listening on tcp://127.0.0.1:{self.port}" in line, line

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=10) == 0


@pytest.fixture
def mds(pod):
    s = Service(pod)
    s.start()
    yield s
    if s.proc.poll() is None:
        s.stop()


def metadata_url(pod, uuid):
    for state in ("run", "exited-garbage", "prepared"):
        f = os.path.join(pod.dir, "pods", state, uuid, "runtime.json")
        if os.path.exists(f):
            return json.load(open(f))["metadataURL"]
    raise AssertionError(f"no runtime.json for {uuid}")


def request(url, data=None, flavor=True, method=None):
    """(status, content type, body) of one HTTP request."""
    headers = {"Metadata-Flavor": "AppContainer"} if flavor else {}
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


def registered_pod(pod, mds, script="sleep 30"):
    proc = subprocess.Popen([POD_BIN, "--dir", pod.dir, "run", "--insecure-options=image",
                             f"--stage1-path={STAGE1['nspawn']}", "--mds-register", f"--mds-url={mds.url}",
                             "--net=host", f"--uuid-file-save={pod.dir}/uuid", BUSYBOX_ACI, "--name", "web", "--exec", "/bin/sh",
                             "--", "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        if os.path.exists(f"{pod.dir}/uuid") and open(f"{pod.dir}/uuid").read().strip():
            break
        time.sleep(0.05)
    uuid = open(f"{pod.dir}/uuid").read().strip()
    assert pod.run("status", "--wait-ready=60s", uuid).returncode == 0
    return proc, uuid


APP_SCRIPT = r"""
H='""" + FLAVOR + r"""'
u=$AC_METADATA_URL/acMetadata/v1
get() { wget -q -O - --header "$H" "$@"; }
echo "uuid=$(get $u/pod/uuid)"
echo "id=$(get $u/apps/$AC_APP_NAME/image/id)"
echo "name=$AC_APP_NAME"
sig=$(get --post-data content=hello $u/pod/hmac/sign)
enc=$(echo -n "$sig" | sed 's/+/%2B/g; s|/|%2F|g; s/=/%3D/g')
me=$(get $u/pod/uuid)
get --post-data "content=hello&uuid=$me&signature=$enc" $u/pod/hmac/verify >/dev/null && echo verified
get --post-data "content=hellO&uuid=$me&signature=$enc" $u/pod/hmac/verify >/dev/null || echo tampered-rejected
"""


def test_apps_reach_every_endpoint_from_inside(pod, mds):
    r, uuid = run_pod(pod, "nspawn", "--name", "web", *sh(APP_SCRIPT),
                      pod_flags=("--mds-register", f"--mds-url={mds.url}", "--net=host"))  # 127.0.0.1: the host's
    assert r.returncode == 0, r.stderr
    log = pod.run("logs", uuid).stdout
    image_id = json.loads(pod.run("cat-manifest", uuid).stdout)["apps"][0]["image"]["id"]
    assert f"uuid={uuid}\n" in log and f"id={image_id}\n" in log and "name=web\n" in log, log
    assert "verified\n" in log and "tampered-rejected\n" in log, log


def test_status_codes_and_content_types(pod, mds):
    proc, uuid = registered_pod(pod, mds)
    try:
        base = metadata_url(pod, uuid)
        token = base.rsplit("/", 1)[1]
        assert base == f"{mds.url}/{uuid}/{token}" and len(token) == 32 and uuid not in token
        v1 = base + "/acMetadata/v1"
        assert request(v1 + "/pod/uuid") == (200, "text/plain; charset=us-ascii", uuid)
        status, ctype, body = request(v1 + "/pod/manifest")
        assert (status, ctype) == (200, "application/json")
        assert json.loads(body) == json.loads(pod.run("cat-manifest", uuid).stdout)
        assert request(v1 + "/pod/annotations")[:2] == (200, "application/json")
        status, ctype, body = request(v1 + "/apps/web/image/manifest")
        assert (status, ctype) == (200, "application/json") and json.loads(body)["name"] == "example.com/busybox"
        status, ctype, body = request(v1 + "/apps/web/annotations")
        assert (status, ctype) == (200, "application/json") and isinstance(json.loads(body), list)
        status, ctype, sig = request(v1 + "/pod/hmac/sign", {"content": "data"})
        assert (status, ctype) == (200, "text/plain; charset=us-ascii") and len(sig) == 88  # base64 of 64 bytes
        assert request(v1 + "/pod/hmac/verify", {"content": "data", "uuid": uuid, "signature": sig})[0] == 200
        assert request(v1 + "/pod/hmac/verify", {"content": "date", "uuid": uuid, "signature": sig})[0] == 403
        assert request(v1 + "/pod/hmac/verify", {"content": "data", "uuid": uuid, "signature": "x"})[0] == 403
        assert request(v1 + "/pod/hmac/sign", {})[0] == 400          # no content field
        assert request(v1 + "/pod/uuid", flavor=False)[0] == 400     # no Metadata-Flavor header
        assert request(v1 + "/pod/uuid", {"content": "x"})[0] == 405  # POST where GET is meant
        assert request(v1 + "/pod/hmac/sign")[0] == 405              # GET where POST is meant
        assert request(v1 + "/apps/nope/image/id")[0] == 404
        assert request(v1 + "/pod/nope")[0] == 404
        wrong = "0" * 32 if token != "0" * 32 else "1" * 32
        assert request(f"{mds.url}/{uuid}/{wrong}/acMetadata/v1/pod/uuid")[0] == 401
        assert request(f"{mds.url}/00000000-0000-4000-8000-000000000000/{token}/acMetadata/v1/pod/uuid")[0] == 401
        # Stateless: a restarted service answers the same URL.
        mds.stop()
        mds.start()
        assert request(v1 + "/pod/uuid")[0] == 200
    finally:
        pod.run("stop", uuid)
        proc.wait(timeout=30)
    # The registration goes with the pod.
    assert pod.run("gc", "--grace-period=0").returncode == 0
    assert request(v1 + "/pod/uuid")[0] == 401


def test_register_without_a_service_fails_before_preparing(pod):
    url = f"http://127.0.0.1:{free_port()}"
    r = pod.run("prepare", "--insecure-options=image", f"--stage1-path={STAGE1['nspawn']}", "--mds-register",
                f"--mds-url={url}", BUSYBOX_ACI)
    assert r.returncode == 1, r.stderr
    assert f"no metadata service answers at {url}" in r.stderr
    assert pod.run("list", "--no-legend").stdout.strip() == ""


def test_a_loopback_service_is_refused_for_a_pod_with_its_own_network(pod, mds):
    """On a CNI network (nspawn's default) or --net=none the pod's loopback is its own: its apps could never reach a
    service on the host's 127.0.0.1, so registering there is refused before a pod is made (ace-validator found
    this: `pod run --mds-register` on the default network gave the apps a URL that refused connections)."""
    base = ("prepare", "--insecure-options=image", f"--stage1-path={STAGE1['nspawn']}", "--mds-register",
            f"--mds-url={mds.url}")
    r = pod.run(*base, BUSYBOX_ACI)  # --net=default
    assert r.returncode == 2, r.stderr
    assert (f"--mds-register: {mds.url} is a loopback address, which the apps of a pod on --net=default (a network "
            "namespace of its own) cannot reach") in r.stderr, r.stderr
    r = pod.run(*base, "--net=none", BUSYBOX_ACI)
    assert r.returncode == 2, r.stderr
    assert "--mds-register with --net=none: the pod has no network" in r.stderr, r.stderr
    assert pod.run("list", "--no-legend").stdout.strip() == ""


@pytest.mark.parametrize("flags,message", [
    (("--mds-url=http://127.0.0.1:1",), "--mds-url needs --mds-register"),
    (("--mds-register", "--mds-url=https://localhost:1"), "expected http://IPV4:PORT"),
])
def test_bad_registration_flags_are_usage_errors(pod, flags, message):
    r = pod.run("prepare", "--insecure-options=image", f"--stage1-path={STAGE1['nspawn']}", *flags, BUSYBOX_ACI)
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_unix_socket_and_bad_listen_address(pod, tmp_path):
    sock = str(tmp_path / "mds.sock")
    p = subprocess.Popen([POD_BIN, "--dir", pod.dir, "metadata-service", "--listen", f"unix:{sock}"],
                         stderr=subprocess.PIPE, text=True)
    try:
        assert "listening on unix:" in p.stderr.readline()
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(sock)
            s.sendall(b"GET /x/y/acMetadata/v1/pod/uuid HTTP/1.0\r\nMetadata-Flavor: AppContainer\r\n\r\n")
            assert s.recv(4096).split(b"\r\n")[0].endswith(b" 401 Unauthorized")
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 0
    r = pod.run("metadata-service", "--listen", "tcp://localhost:1")
    assert r.returncode == 2 and "expected tcp://IPV4:PORT or unix:PATH" in r.stderr
