"""https:// fetch and appc name discovery against a loopback https server with a self-signed cert."""
import functools
import hashlib
import http.server
import json
import os
import shutil
import ssl
import subprocess
import threading

import pytest

from acis import manifest, simple_aci

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl tool")


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path in self.server.raw_replies:  # sent as they are, then the connection closes
            self.close_connection = True
            self.wfile.write(self.server.raw_replies[self.path])
            self.wfile.flush()
            return
        if "ac-discovery=1" in self.path:
            port = self.server.server_address[1]
            body = (f'<html><head><meta name="ac-discovery" content="localhost/ '
                    f'https://localhost:{port}/acis/{{name}}-{{version}}-{{os}}-{{arch}}.{{ext}}"></head></html>')
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        super().do_GET()


@pytest.fixture
def https_server(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    root = tmp_path / "www"
    (root / "acis" / "localhost").mkdir(parents=True)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    srv.raw_replies = {}  # path -> the bytes to reply with
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield root, srv.server_address[1], str(cert), srv.raw_replies
    srv.shutdown()


def test_fetch_https_url(pod, https_server, tmp_path):
    root, port, cert, _ = https_server
    simple_aci(str(root / "x.aci"), m=manifest("example.com/remote"), mode="w:gz")
    url = f"https://localhost:{port}/x.aci"
    r = pod.run("fetch", url, env={"SSL_CERT_FILE": cert})
    assert r.returncode == 1 and r.stderr == (f"pod: image {url} is not signed (no {url}.asc); give "
                                              "--insecure-options=image to fetch it without a signature\n")
    r = pod.run("fetch", "--insecure-options=image", url)  # untrusted certificate
    assert r.returncode == 1 and "TLS" in r.stderr
    id_ = pod.run("fetch", "--insecure-options=image", url, env={"SSL_CERT_FILE": cert}, check=0).stdout.strip()
    assert json.loads(pod.run("image", "list", "--format=json", check=0).stdout)[0]["source"] == url
    # Already stored: answered from the store without the server.
    os.remove(root / "x.aci")
    assert pod.run("fetch", "--insecure-options=image", url, env={"SSL_CERT_FILE": cert}, check=0).stdout.strip() == id_
    r = pod.run("fetch", "--insecure-options=image", f"https://localhost:{port}/missing.aci", env={"SSL_CERT_FILE": cert})
    assert r.returncode == 3 and "404" in r.stderr
    assert os.listdir(os.path.join(pod.dir, "images", "tmp")) == []


def test_fetch_by_name_discovery(pod, https_server):
    root, port, cert, _ = https_server
    simple_aci(str(root / "acis" / "localhost" / "app-2.0-linux-amd64.aci"),
               m=manifest("localhost/app", labels=[{"name": "version", "value": "2.0"}]))
    simple_aci(str(root / "acis" / "localhost" / "wrong-latest-linux-amd64.aci"), m=manifest("localhost/other"))
    env = {"SSL_CERT_FILE": cert, "POD_DISCOVERY_PORT": str(port)}
    id_ = pod.run("fetch", "--insecure-options=image", "localhost/app:2.0", env=env, check=0).stdout.strip()
    assert pod.run("image", "cat-manifest", "localhost/app:2.0", check=0).stdout.count("localhost/app") == 1
    # A stored name is used without discovery.
    assert pod.run("fetch", "localhost/app:2.0", check=0).stdout.strip() == id_
    r = pod.run("fetch", "--insecure-options=image", "localhost/wrong", env=env)
    assert r.returncode == 1 and "is named localhost/other" in r.stderr
    r = pod.run("fetch", "--insecure-options=image", "localhost/nothere:1", env=env)
    assert r.returncode == 3
    assert len(json.loads(pod.run("image", "list", "--format=json", check=0).stdout)) == 1


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
MALFORMED = {
    # name: (reply, what the one-line message must say: libcurl's words, or ours for what curl would accept)
    "bad-chunk-size": (CHUNKED + b"5\r\nhello\r\nzz\r\nmore\r\n0\r\n\r\n",
                       "Illegal or missing hexadecimal sequence in chunked-encoding"),
    "overflowing-chunk-size": (CHUNKED + b"5\r\nhello\r\n" + b"f" * 24 + b"\r\nx",
                               "Too long hexadecimal number in chunked-encoding"),
    "chunk-without-crlf": (CHUNKED + b"5\r\nhelloXY0\r\n\r\n", "Malformed encoding found in chunked-encoding"),
    "truncated-chunk": (CHUNKED + b"400\r\nonly a little", "transfer closed with outstanding read data remaining"),
    "truncated-body": (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nshort",
                       "transfer closed with 995 bytes remaining to read"),
    "bad-status-line": (b"HTTP/1.1 OK\r\n\r\n", "Unsupported HTTP version in response"),
    "absurd-content-length": (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                              'malformed HTTP reply: invalid Content-Length "99999999999999999999999"'),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_fetch_malformed_reply_is_a_clean_error(pod, https_server, case):
    _, port, cert, raw = https_server
    reply, says = MALFORMED[case]
    raw["/bad.aci"] = reply
    url = f"https://localhost:{port}/bad.aci"
    r = pod.run("fetch", "--insecure-options=image", url, env={"SSL_CERT_FILE": cert})
    assert r.returncode == 1, r.stderr  # not 134 (std::terminate) or any other code
    assert r.stderr.startswith(f"pod: GET {url}: ") and r.stderr.count("\n") == 1, r.stderr
    assert says in r.stderr
    assert os.listdir(os.path.join(pod.dir, "images", "tmp")) == []
    assert json.loads(pod.run("image", "list", "--format=json", check=0).stdout) == []


def test_fetch_chunked_reply(pod, https_server, tmp_path):
    _, port, cert, raw = https_server
    simple_aci(str(tmp_path / "c.aci"), m=manifest("example.com/chunked"))
    data = (tmp_path / "c.aci").read_bytes()
    body = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(data[i:i + 3000]), data[i:i + 3000]) for i in range(0, len(data), 3000))
    raw["/c.aci"] = CHUNKED + body + b"0\r\nX-Trailer: yes\r\n\r\n"
    id_ = pod.run("fetch", "--insecure-options=image", "--full", f"https://localhost:{port}/c.aci",
                  env={"SSL_CERT_FILE": cert}, check=0).stdout.strip()
    assert id_ == "sha512-" + hashlib.sha512(data).hexdigest()


def test_fetch_redirect_to_plain_http_is_refused(pod, https_server):
    _, port, cert, raw = https_server
    raw["/down.aci"] = b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/x.aci\r\nContent-Length: 0\r\n\r\n"
    url = f"https://localhost:{port}/down.aci"
    r = pod.run("fetch", "--insecure-options=image", url, env={"SSL_CERT_FILE": cert})
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith(f"pod: GET {url}: ") and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.rstrip().endswith("(a redirect to plain http http://127.0.0.1:9/x.aci is refused without "
                                      "--insecure-options=http)"), r.stderr
