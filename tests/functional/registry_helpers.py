"""A real Docker registry (Debian's docker-registry, distribution v2.8) on a loopback port, and OCI layouts to push.

    reg = Registry(tmp_path, tls=True, auth=("user", "secret"))   # starts it; reg.stop() (or `with`) stops it
    img = write_oci_layout(tmp_path / "oci", "v1", platforms=["linux/amd64", "linux/arm64/v8"])
    reg.push(img.dir, "app", "v1")          # skopeo copy --all oci:DIR:TAG docker://127.0.0.1:PORT/app:v1
    reg.ref("app", "v1")                    # "127.0.0.1:PORT/app:v1" (what follows docker://)
    reg.url, reg.host, reg.ca_file          # "https://127.0.0.1:PORT", "127.0.0.1:PORT", the CA to trust (tls=True)
    reg.write_auth_file(path)               # auth.json with reg.auth's credentials (or others)
    reg.blob_path(digest)                   # the blob's file in the registry's storage (to corrupt it)

The `registry` fixture factory (conftest-free: import it into a test module) starts registries that stop at
teardown. Every wait is bounded; a registry that does not come up raises with its log.
"""
import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import ssl
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request

import pytest

REGISTRY_BIN = shutil.which("docker-registry")
SKOPEO_BIN = shutil.which("skopeo")
needs_registry = pytest.mark.skipif(REGISTRY_BIN is None or SKOPEO_BIN is None or shutil.which("openssl") is None,
                                    reason="needs docker-registry, skopeo and openssl (scripts/install-deps)")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_tls(d):
    """A CA and a server certificate for 127.0.0.1 and localhost signed by it; returns (ca, cert, key)."""
    d = str(d)
    os.makedirs(d, exist_ok=True)
    ca, ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    cert, key, csr = os.path.join(d, "server.pem"), os.path.join(d, "server.key"), os.path.join(d, "server.csr")
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True, timeout=60)
    run("req", "-x509", *ec, "-days", "2", "-subj", "/CN=pod test CA", "-keyout", ca_key, "-out", ca)
    run("req", *ec, "-subj", "/CN=localhost", "-keyout", key, "-out", csr)
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2", "-out", cert,
        "-extfile", ext)
    return ca, cert, key


class Registry:
    def __init__(self, tmp_path, tls=False, auth=None, start_timeout=30):
        """auth: None or (user, password) for htpasswd (Basic) auth."""
        self.dir = tempfile.mkdtemp(prefix="registry-", dir=str(tmp_path))
        self.storage = os.path.join(self.dir, "storage")
        os.makedirs(self.storage)
        self.tls, self.auth = tls, auth
        self.ca_file = None
        self.proc = None
        self.log_path = os.path.join(self.dir, "registry.log")
        config = {"version": 0.1, "log": {"level": "warn", "accesslog": {"disabled": True}},
                  "storage": {"filesystem": {"rootdirectory": self.storage}, "delete": {"enabled": True}},
                  "http": {"secret": "pod-test-secret"}}
        if tls:
            self.ca_file, cert, key = make_tls(os.path.join(self.dir, "tls"))
            config["http"]["tls"] = {"certificate": cert, "key": key}
        if auth:
            import bcrypt  # python3-bcrypt (scripts/install-deps)
            htpasswd = os.path.join(self.dir, "htpasswd")
            with open(htpasswd, "w") as f:
                f.write(f"{auth[0]}:{bcrypt.hashpw(auth[1].encode(), bcrypt.gensalt(rounds=4)).decode()}\n")
            config["auth"] = {"htpasswd": {"realm": "pod-test", "path": htpasswd}}
        self.config = os.path.join(self.dir, "config.yml")
        for _ in range(3):  # the free port can be taken between free_port() and the bind
            self.port = free_port()
            config["http"]["addr"] = f"127.0.0.1:{self.port}"
            with open(self.config, "w") as f:
                json.dump(config, f)  # JSON is YAML
            if self._start(start_timeout):
                return
            self.stop()
        raise RuntimeError(f"docker-registry did not start:\n{self.log()}")

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def ref(self, name, tag_or_digest="latest"):
        sep = "@" if tag_or_digest.startswith("sha256:") else ":"
        return f"{self.host}/{name}{sep}{tag_or_digest}"

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def _start(self, timeout):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", self.config], stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        ctx = ssl.create_default_context(cafile=self.ca_file) if self.tls else None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                urllib.request.urlopen(self.url + "/v2/", timeout=2, context=ctx)
                return True
            except urllib.error.HTTPError as e:  # 401 with auth: it answers
                return e.code == 401
            except OSError:
                time.sleep(0.1)
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if getattr(self, "logf", None):
            self.logf.close()
            self.logf = None

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()

    def push(self, oci_dir, name, tag, timeout=120):
        """skopeo copy --all oci:DIR:TAG docker://HOST/NAME:TAG (every platform of an index, digests kept)."""
        cmd = [SKOPEO_BIN, "--insecure-policy", "copy", "--all", "--dest-tls-verify=false"]
        if self.auth:
            cmd.append(f"--dest-creds={self.auth[0]}:{self.auth[1]}")
        cmd += [f"oci:{oci_dir}:{tag}", f"docker://{self.host}/{name}:{tag}"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise AssertionError(f"{cmd} failed:\n{r.stderr}\nregistry log:\n{self.log()}")

    def write_auth_file(self, path, user=None, password=None, key=None):
        """auth.json as docker and podman write it, for this registry (key: the "auths" key, default host:port)."""
        user = user if user is not None else self.auth[0]
        password = password if password is not None else self.auth[1]
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        os.makedirs(os.path.dirname(str(path)) or ".", exist_ok=True)
        with open(path, "w") as f:
            json.dump({"auths": {key or self.host: {"auth": token}}}, f)
        return str(path)

    def blob_path(self, digest):
        algo, hexd = digest.split(":", 1)
        return os.path.join(self.storage, "docker", "registry", "v2", "blobs", algo, hexd[:2], hexd, "data")


@pytest.fixture
def registry(tmp_path):
    """A factory: registry(tls=False, auth=None) -> a started Registry, stopped at teardown."""
    started = []

    def start(**kw):
        r = Registry(tmp_path, **kw)
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()


# --- OCI layouts ---

def _blob(d, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = os.path.join(d, "blobs", "sha256", digest[7:])
    with open(path, "wb") as f:
        f.write(data)
    return digest


def _descriptor(d, media_type, data, **extra):
    return {"mediaType": media_type, "digest": _blob(d, data), "size": len(data), **extra}


def _layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), 0o644, 0
            t.addfile(info, io.BytesIO(content))
    tar = raw.getvalue()
    return tar, gzip.compress(tar, mtime=0)


class OciImage:
    """What write_oci_layout wrote: .dir, .tag, .index_digest (None for one platform), .manifests and .layers
    (platform string -> digest), .configs (platform -> digest)."""

    def __init__(self, d, tag):
        self.dir, self.tag = d, tag
        self.index_digest = None
        self.manifests, self.layers, self.configs = {}, {}, {}


def write_oci_layout(d, tag, platforms=("linux/amd64",), files=None):
    """An OCI image layout at d with one small image per platform ("os/arch[/variant]"), each with one layer
    holding `files` (name -> bytes) and etc/pod-platform. One platform: the tag names its manifest; several:
    the tag names an image index of them."""
    d = str(d)
    os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(d, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    img = OciImage(d, tag)
    descs = []
    for p in platforms:
        os_, arch, *variant = p.split("/")
        tar, tgz = _layer({**(files or {}), "etc/pod-platform": p.encode() + b"\n"})
        layer = _descriptor(d, "application/vnd.oci.image.layer.v1.tar+gzip", tgz)
        config = {"architecture": arch, "os": os_, "config": {"Cmd": ["/bin/sh"]},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}
        platform = {"architecture": arch, "os": os_}
        if variant:
            config["variant"] = platform["variant"] = variant[0]
        cfg = _descriptor(d, "application/vnd.oci.image.config.v1+json", json.dumps(config).encode())
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg, "layers": [layer]}
        desc = _descriptor(d, OCI_MANIFEST, json.dumps(manifest).encode(), platform=platform)
        img.manifests[p], img.layers[p], img.configs[p] = desc["digest"], layer["digest"], cfg["digest"]
        descs.append(desc)
    ann = {"annotations": {"org.opencontainers.image.ref.name": tag}}
    if len(descs) == 1:
        top = {k: v for k, v in descs[0].items() if k != "platform"}
        top.update(ann)
    else:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs}
        top = _descriptor(d, OCI_INDEX, json.dumps(index).encode(), **ann)
        img.index_digest = top["digest"]
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [top]}, f)
    return img
