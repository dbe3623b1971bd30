"""The registry client (src/images/registry.cpp) against a real docker-registry, through tests/tools/registry-probe."""
import base64
import hashlib
import http.server
import json
import os
import subprocess
import threading

import pytest

from conftest import BUILD
from registry_helpers import needs_registry, registry, write_oci_layout  # noqa: F401 (registry is a fixture)

pytestmark = needs_registry
PROBE = os.path.join(BUILD, "tests", "registry-probe")
PLAIN_HTTP = "answers only plain http; use --insecure-options=http to allow a plain-http registry"


def probe(*args, env=None, tmp=None):
    """Runs registry-probe with a private HOME and no auth-file variables; returns (rc, stdout, stderr)."""
    e = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "SSL_CERT_FILE")}
    e.update(HOME=str(tmp or "/nonexistent"), **(env or {}))
    r = subprocess.run([PROBE, *args], capture_output=True, text=True, timeout=120, env=e)
    return r.returncode, r.stdout, r.stderr


def manifest_digest(stdout):
    lines = stdout.split("\n")
    assert lines[0].startswith("digest ") and lines[1].startswith("media-type "), stdout
    return lines[0][7:], lines[1][11:]


@pytest.fixture
def image(tmp_path):
    return write_oci_layout(tmp_path / "oci", "v1", files={"hello": b"hello from the registry\n" * 100})


def test_plain_http_registry_needs_insecure_http(registry, image, tmp_path):
    reg = registry()
    reg.push(image.dir, "app", "v1")
    rc, out, err = probe(reg.ref("app", "v1"), "manifest", tmp=tmp_path)
    assert rc == 1 and err.startswith(f"registry-probe: failed: GET https://{reg.host}/v2/: TLS handshake failed: "), err
    assert err.rstrip().endswith(f"; {reg.host} {PLAIN_HTTP}"), err
    rc, out, err = probe("--insecure-http", reg.ref("app", "v1"), "manifest", tmp=tmp_path)
    assert rc == 0, err
    assert manifest_digest(out) == (image.manifests["linux/amd64"], "application/vnd.oci.image.manifest.v1+json")


def test_tls_registry_certificate(registry, image, tmp_path):
    reg = registry(tls=True)
    reg.push(image.dir, "app", "v1")
    want = image.manifests["linux/amd64"]
    rc, out, err = probe(reg.ref("app", "v1"), "manifest", env={"SSL_CERT_FILE": reg.ca_file}, tmp=tmp_path)
    assert rc == 0, err
    assert manifest_digest(out)[0] == want
    rc, out, err = probe(reg.ref("app", "v1"), "manifest", tmp=tmp_path)
    assert rc == 1 and f"GET https://{reg.host}/v2/: TLS certificate verification failed: " in err, err
    assert "certificate" in err and "--insecure-options=tls" in err and PLAIN_HTTP not in err
    rc, out, err = probe("--insecure-tls", reg.ref("app", "v1"), "manifest", tmp=tmp_path)
    assert rc == 0, err
    assert manifest_digest(out)[0] == want


def test_basic_auth_from_auth_json(registry, image, tmp_path):
    reg = registry(tls=True, auth=("pod", "s3cret"))
    reg.push(image.dir, "app", "v1")
    env = {"SSL_CERT_FILE": reg.ca_file}
    good = reg.write_auth_file(tmp_path / "good.json")
    rc, out, err = probe("--auth-file", good, reg.ref("app", "v1"), "manifest", env=env, tmp=tmp_path)
    assert rc == 0, err
    assert manifest_digest(out)[0] == image.manifests["linux/amd64"]
    # Found through the default search too: $REGISTRY_AUTH_FILE, then ~/.docker/config.json (with a scheme in the key).
    rc, _, err = probe(reg.ref("app", "v1"), "manifest", env={**env, "REGISTRY_AUTH_FILE": good}, tmp=tmp_path)
    assert rc == 0, err
    home = tmp_path / "home"
    reg.write_auth_file(home / ".docker" / "config.json", key=f"https://{reg.host}")
    rc, _, err = probe(reg.ref("app", "v1"), "manifest", env=env, tmp=home)
    assert rc == 0, err

    bad = reg.write_auth_file(tmp_path / "bad.json", password="wrong")
    rc, out, err = probe("--auth-file", bad, reg.ref("app", "v1"), "manifest", env=env, tmp=tmp_path)
    assert rc == 1 and out == "", err
    assert err == (f"registry-probe: failed: GET https://{reg.host}/v2/app/manifests/v1: HTTP 401 unauthorized: "
                   f"UNAUTHORIZED: authentication required (credentials for {reg.host} from {bad})\n"), err
    rc, out, err = probe(reg.ref("app", "v1"), "manifest", env=env, tmp=tmp_path)
    assert rc == 1
    assert err == (f"registry-probe: failed: GET https://{reg.host}/v2/: HTTP 401 unauthorized: the registry asks for "
                   f"a user name and password, and there are no credentials for {reg.host} in an auth file\n"), err


def test_index_selects_the_platform(registry, tmp_path):
    img = write_oci_layout(tmp_path / "multi", "v2", platforms=["linux/amd64", "linux/arm64/v8"])
    reg = registry()
    reg.push(img.dir, "multi", "v2")
    ref = reg.ref("multi", "v2")
    rc, out, err = probe("--insecure-http", ref, "manifest", tmp=tmp_path)
    assert rc == 0, err
    assert manifest_digest(out)[0] == img.manifests["linux/amd64"]
    rc, out, err = probe("--insecure-http", "--platform", "linux/arm64", ref, "manifest", tmp=tmp_path)
    assert rc == 0, err
    assert manifest_digest(out)[0] == img.manifests["linux/arm64/v8"]
    # Pinned to the index's digest.
    rc, out, err = probe("--insecure-http", "--platform", "linux/arm64/v8", reg.ref("multi", img.index_digest),
                         "manifest", tmp=tmp_path)
    assert rc == 0, err
    assert manifest_digest(out)[0] == img.manifests["linux/arm64/v8"]
    rc, out, err = probe("--insecure-http", "--platform", "linux/s390x", ref, "manifest", tmp=tmp_path)
    assert rc == 1
    assert err == (f"registry-probe: not-found: the image index of {reg.host}/multi:v2 has no image for "
                   "linux/s390x (it has: linux/amd64, linux/arm64/v8); choose one with --platform\n"), err


def test_pinned_digest_mismatch_and_missing_tag(registry, image, tmp_path):
    reg = registry()
    reg.push(image.dir, "app", "v1")
    want = image.manifests["linux/amd64"]
    rc, out, err = probe("--insecure-http", reg.ref("app", want), "manifest", tmp=tmp_path)
    assert rc == 0, err
    assert manifest_digest(out)[0] == want
    # The registry's stored manifest changed under the digest: its bytes no longer hash to it.
    path = reg.blob_path(want)
    with open(path, "ab") as f:
        f.write(b"\n")
    got = "sha256:" + hashlib.sha256(open(path, "rb").read()).hexdigest()
    rc, out, err = probe("--insecure-http", reg.ref("app", want), "manifest", tmp=tmp_path)
    assert rc == 1 and out == ""
    assert err == (f"registry-probe: image: GET http://{reg.host}/v2/app/manifests/{want}: manifest digest mismatch: "
                   f"expected {want}, got {got}\n"), err
    rc, out, err = probe("--insecure-http", reg.ref("app", "nosuchtag"), "manifest", tmp=tmp_path)
    assert rc == 1
    assert err.startswith(f"registry-probe: not-found: GET http://{reg.host}/v2/app/manifests/nosuchtag: HTTP 404 "
                          "not found: MANIFEST_UNKNOWN: manifest unknown"), err


def test_blob_download_resume_and_digest_mismatch(registry, image, tmp_path):
    reg = registry()
    reg.push(image.dir, "app", "v1")
    layer = image.layers["linux/amd64"]
    data = open(os.path.join(image.dir, "blobs", "sha256", layer[7:]), "rb").read()
    out_file = tmp_path / "layer"
    rc, out, err = probe("--insecure-http", reg.ref("app", "v1"), "blob", layer, str(out_file), tmp=tmp_path)
    assert rc == 0, err
    assert out == f"ok {len(data)}\n" and out_file.read_bytes() == data
    # Resumed: half of it is there already (a Range request fetches the rest).
    half = tmp_path / "half"
    half.write_bytes(data[:len(data) // 2])
    rc, out, err = probe("--insecure-http", reg.ref("app", "v1"), "blob", layer, str(half), tmp=tmp_path)
    assert rc == 0, err
    assert half.read_bytes() == data
    # A corrupt blob in the registry's storage (same size) is refused.
    path = reg.blob_path(layer)
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0xFF
    with open(path, "wb") as f:
        f.write(bad)
    rc, out, err = probe("--insecure-http", reg.ref("app", "v1"), "blob", layer, str(tmp_path / "bad"), tmp=tmp_path)
    assert rc == 1 and out == ""
    assert err == (f"registry-probe: image: blob {layer} of {reg.host}/app:v1: digest mismatch: expected {layer}, got "
                   f"sha256:{hashlib.sha256(bad).hexdigest()}\n"), err


class FakeRegistry(http.server.BaseHTTPRequestHandler):
    """Bearer auth through a token endpoint, blobs redirected to a storage server on another host (localhost)."""

    def log_message(self, *a):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        s = self.server.state
        s["seen"].append((self.path, self.headers.get("Authorization")))
        port = self.server.server_address[1]
        if self.path.startswith("/token?"):
            s["token_queries"].append(self.path)
            if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"pod:pw").decode():
                return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
            return self.reply(200, b'{"access_token":"tok123","expires_in":60}')
        if self.headers.get("Authorization") != "Bearer tok123":
            challenge = f'Bearer realm="http://127.0.0.1:{port}/token",service="fake, registry",scope="x"'
            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"token needed"}]}',
                              [("WWW-Authenticate", challenge)])
        if self.path == "/v2/":
            return self.reply(200, b"{}")
        if self.path == "/v2/app/manifests/v1":
            return self.reply(200, s["manifest"], [("Content-Type", DOCKER_MANIFEST)])
        if self.path.startswith("/v2/app/blobs/"):
            return self.reply(307, b"", [("Location", f"http://localhost:{s['storage_port']}/b/{self.path[14:]}")])
        self.reply(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no such thing"}]}')


class FakeStorage(http.server.BaseHTTPRequestHandler):
    """Serves the blob: cut short the first time, ignoring Range the second, whole the third."""

    def log_message(self, *a):
        pass

    def do_GET(self):
        s = self.server.state
        s["storage"].append((self.headers.get("Authorization"), self.headers.get("Range")))
        blob = s["blob"]
        self.send_response(200)
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        self.wfile.write(blob if len(s["storage"]) > 1 else blob[:len(blob) // 2])
        self.wfile.flush()
        self.close_connection = True


DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture
def fake_registry():
    blob = os.urandom(300000)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                           "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
                                      "digest": "sha256:" + "0" * 64},
                           "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                                       "size": len(blob), "digest": digest}]}).encode()
    state = {"seen": [], "token_queries": [], "storage": [], "blob": blob, "digest": digest, "manifest": manifest}
    servers = []
    for handler in (FakeRegistry, FakeStorage):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        srv.state = state
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    state["storage_port"] = servers[1].server_address[1]
    yield f"127.0.0.1:{servers[0].server_address[1]}", state
    for srv in servers:
        srv.shutdown()


def test_bearer_token_redirect_without_credentials_and_resume(fake_registry, tmp_path):
    host, state = fake_registry
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auths": {host: {"auth": base64.b64encode(b"pod:pw").decode()}}}))
    rc, out, err = probe("--insecure-http", "--auth-file", str(auth), f"{host}/app:v1", "manifest", tmp=tmp_path)
    assert rc == 0, err
    assert manifest_digest(out) == ("sha256:" + hashlib.sha256(state["manifest"]).hexdigest(), DOCKER_MANIFEST)
    assert state["token_queries"] == ["/token?service=fake%2C%20registry&scope=repository%3Aapp%3Apull"]
    out_file = tmp_path / "blob"
    rc, out, err = probe("--insecure-http", "--auth-file", str(auth), f"{host}/app:v1", "blob", state["digest"],
                         str(out_file), tmp=tmp_path)
    assert rc == 0, err
    assert out_file.read_bytes() == state["blob"]
    half = len(state["blob"]) // 2
    # Cut short; resumed with a Range that the server ignored; fetched again whole. No credentials to storage.
    assert state["storage"] == [(None, None), (None, f"bytes={half}-"), (None, None)]
    # Bad credentials: the token server's refusal is the error.
    auth.write_text(json.dumps({"auths": {host: {"auth": base64.b64encode(b"pod:nope").decode()}}}))
    rc, out, err = probe("--insecure-http", "--auth-file", str(auth), f"{host}/app:v1", "manifest", tmp=tmp_path)
    assert rc == 1
    assert err == (f"registry-probe: failed: GET http://127.0.0.1:{host.split(':')[1]}/token?service=fake%2C%20registry"
                   "&scope=repository%3Aapp%3Apull: HTTP 401 unauthorized: UNAUTHORIZED: bad credentials (the token "
                   f"server refused; credentials for {host} from {auth})\n"), err
