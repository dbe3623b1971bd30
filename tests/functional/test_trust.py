"""Image signatures: pod trust / trust list / trust rm and the check at fetch, with real keys made by gpg."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from acis import manifest, simple_aci
from conftest import POD_BIN
from test_images_https import https_server  # noqa: F401  (the loopback https server fixture)

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None, reason="needs gpg")

NAME = "example.com/app"


class Gpg:
    """A private GNUPGHOME with keys made for the test."""

    def __init__(self):
        self.home = tempfile.mkdtemp(prefix="pod-tgpg-")  # short: gpg-agent's socket path must fit

    def __call__(self, *args, time=None):
        faked = ["--faked-system-time", time] if time else []
        return subprocess.run(["gpg", "--homedir", self.home, "--batch", "--pinentry-mode", "loopback",
                               "--passphrase", "", *faked, *args], check=True, capture_output=True)

    def new_key(self, uid, time=None, expire="1y"):
        self("--quick-gen-key", uid, "ed25519", "sign", expire, time=time)
        email = uid[uid.index("<") + 1:-1]
        out = self("--with-colons", "--list-keys", email).stdout.decode()
        fpr = next(l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:"))
        return Key(self, uid, email, fpr, time)

    def close(self):
        subprocess.run(["gpgconf", "--homedir", self.home, "--kill", "all"], capture_output=True)
        shutil.rmtree(self.home, ignore_errors=True)


class Key:
    def __init__(self, gpg, uid, email, fpr, time):
        self.gpg, self.uid, self.email, self.fpr, self.time = gpg, uid, email, fpr, time
        self.file = os.path.join(gpg.home, email + ".asc")
        with open(self.file, "wb") as f:
            f.write(gpg("--armor", "--export", email).stdout)
        out = gpg("--with-colons", "--list-keys", email).stdout.decode()
        self.expires = int(next(l.split(":")[6] for l in out.splitlines() if l.startswith("pub:")) or 0)

    def sign(self, path, time=None):
        self.gpg("--yes", "--armor", "--detach-sign", "--local-user", self.fpr, "-o", path + ".asc", path,
                 time=time or (self.time and self.time.replace("T000000", "T060000")))


@pytest.fixture(scope="module")
def keys():
    g = Gpg()
    k = {"alice": g.new_key("Alice <alice@example.com>"),
         "mallory": g.new_key("Mallory <mallory@example.com>"),
         # made and used in 2020, expired the day after
         "old": g.new_key("Old <old@example.com>", time="20200101T000000", expire="1d")}
    k["gpg"] = g
    yield k
    g.close()


def trust(pod, *args, check=0, env=None):
    return pod.run("trust", "--skip-fingerprint-review", *args, check=check, env=env)


def signed_aci(tmp_path, key, name=NAME, fname="app.aci"):
    path = str(tmp_path / fname)
    simple_aci(path, m=manifest(name))
    if key:
        key.sign(path)
    return path


def image_id(path):
    with open(path, "rb") as f:
        return "sha512-" + hashlib.sha512(f.read()).hexdigest()


def images(pod):
    return json.loads(pod.run("image", "list", "--format=json", check=0).stdout)


def nothing_stored(pod):
    assert images(pod) == []
    assert os.listdir(os.path.join(pod.dir, "images", "tmp")) == []
    assert os.listdir(os.path.join(pod.dir, "images", "blobs")) == []


def key_path(pod, prefix, fpr):
    return os.path.join(os.path.realpath(pod.dir), "trustedkeys", "prefix.d", prefix, fpr)


def not_trusted(aci, key, name=NAME, only=None):
    only = f" (only for {only})" if only else ""
    return (f"pod: image {aci} ({name}) is signed by key {key.fpr}, which is not trusted for {name}{only}; if you "
            f"trust that key, get it from the image's publisher and run: pod trust --prefix={name} KEY.asc\n")


def test_good_signature(pod, keys, tmp_path):
    alice = keys["alice"]
    r = trust(pod, f"--prefix={NAME}", alice.file)
    assert r.stdout == f'Added key {alice.fpr} for prefix "{NAME}" at {key_path(pod, NAME, alice.fpr)}\n'
    aci = signed_aci(tmp_path, alice)
    r = pod.run("fetch", "--full", aci, check=0)
    assert r.stdout == image_id(aci) + "\n" and r.stderr == ""
    assert [i["id"] for i in images(pod)] == [image_id(aci)]
    # Answered from the source cache, which remembers the signer.
    src = os.listdir(os.path.join(pod.dir, "images", "sources"))
    with open(os.path.join(pod.dir, "images", "sources", src[0])) as f:
        assert json.load(f)["signer"] == alice.fpr
    assert pod.run("fetch", "--full", aci, check=0).stdout == image_id(aci) + "\n"


def test_wrong_key(pod, keys, tmp_path):
    trust(pod, f"--prefix={NAME}", keys["alice"].file)
    aci = signed_aci(tmp_path, keys["mallory"])
    r = pod.run("fetch", aci, check=1)
    assert r.stderr == not_trusted(aci, keys["mallory"])
    nothing_stored(pod)


def test_no_keys_at_all(pod, keys, tmp_path):
    aci = signed_aci(tmp_path, keys["alice"])
    assert pod.run("fetch", aci, check=1).stderr == not_trusted(aci, keys["alice"])
    nothing_stored(pod)


def test_tampered_image(pod, keys, tmp_path):
    trust(pod, f"--prefix={NAME}", keys["alice"].file)
    aci = signed_aci(tmp_path, keys["alice"])
    with open(aci, "r+b") as f:
        data = f.read()
        at = data.index(b"hello\n")
        f.seek(at)
        f.write(b"j")  # one byte of a file's content: still a valid ACI
    r = pod.run("fetch", aci, check=1)
    assert r.stderr == f"pod: signature of {aci} does not match (tampered image?)\n"
    nothing_stored(pod)


def test_expired_key(pod, keys, tmp_path):
    old = keys["old"]
    trust(pod, "--prefix=example.com", old.file)
    aci = signed_aci(tmp_path, old)
    r = pod.run("fetch", aci, check=1)
    assert r.stderr == f"pod: image {aci} is signed by key {old.fpr}, which has expired\n"
    nothing_stored(pod)
    row = next(k for k in json.loads(pod.run("trust", "list", "--format=json", check=0).stdout))
    assert row["expired"] is True and row["expires"] == "2020-01-02T00:00:00.000Z"


def test_missing_signature_and_insecure(pod, keys, tmp_path):
    trust(pod, f"--prefix={NAME}", keys["alice"].file)
    aci = signed_aci(tmp_path, None)
    r = pod.run("fetch", aci, check=1)
    assert r.stderr == (f"pod: image {aci} is not signed (no {aci}.asc); "
                        "give --insecure-options=image to fetch it without a signature\n")
    nothing_stored(pod)
    r = pod.run("fetch", "--full", "--insecure-options=image", aci, check=0)
    assert r.stdout == image_id(aci) + "\n"
    assert r.stderr == f"warning: image {aci} was not signature-checked (--insecure-options=image)\n"
    # Stored unchecked: a fetch without the option checks it rather than answer from the cache.
    assert pod.run("fetch", aci, check=1).stderr.startswith(f"pod: image {aci} is not signed")
    keys["alice"].sign(aci)
    r = pod.run("fetch", "--full", aci, check=0)
    assert r.stdout == image_id(aci) + "\n" and r.stderr == ""
    assert len(images(pod)) == 1


def test_prefix_matching(pod, keys, tmp_path):
    alice = keys["alice"]
    aci = signed_aci(tmp_path, alice)
    for prefix in ("example.com/other", "example.co", "example.com/app/sub"):
        trust(pod, f"--prefix={prefix}", alice.file)
        assert pod.run("fetch", aci, check=1).stderr == not_trusted(aci, alice, only=prefix), prefix
        pod.run("trust", "rm", alice.fpr, check=0)
    nothing_stored(pod)
    for how in ("--prefix=example.com", f"--prefix={NAME}/", "--root"):
        r = trust(pod, how, alice.file)
        assert pod.run("fetch", "--full", aci, check=0).stdout == image_id(aci) + "\n", how
        pod.run("image", "rm", image_id(aci), check=0)
        pod.run("trust", "rm", alice.fpr, check=0)
    assert r.stdout == (f"Added key {alice.fpr} as a root key (all images) at "
                        f"{os.path.realpath(pod.dir)}/trustedkeys/root.d/{alice.fpr}\n")


def test_system_keys(pod, keys, tmp_path):
    alice = keys["alice"]
    sysdir = tmp_path / "system"
    (sysdir / "prefix.d" / "example.com").mkdir(parents=True)
    shutil.copy(alice.file, sysdir / "prefix.d" / "example.com" / alice.fpr)
    env = {"POD_TRUST_SYSTEM_DIR": str(sysdir)}
    aci = signed_aci(tmp_path, alice)
    assert pod.run("fetch", aci, check=1).stderr == not_trusted(aci, alice)  # /etc/pod/trustedkeys is not it
    assert pod.run("fetch", "--full", aci, check=0, env=env).stdout == image_id(aci) + "\n"
    rows = json.loads(pod.run("trust", "list", "--format=json", check=0, env=env).stdout)
    assert [(k["prefix"], k["fingerprint"], k["store"]) for k in rows] == [("example.com", alice.fpr, "system")]
    r = pod.run("trust", "rm", alice.fpr, check=3, env=env)
    assert r.stderr == (f"pod: key {alice.fpr} is in the system store {sysdir}; pod trust rm removes local keys only "
                        "(remove the file there as its admin)\n")


def test_trust_list_and_rm(pod, keys):
    alice, mallory = keys["alice"], keys["mallory"]
    assert pod.run("trust", "list", check=0).stdout == "PREFIX  FINGERPRINT  UID  EXPIRES  STORE\n"
    trust(pod, f"--prefix={NAME}", alice.file)
    trust(pod, "--prefix=example.org", alice.file)
    trust(pod, "--root", mallory.file)
    rows = [re.split(r"\s{2,}", l) for l in pod.run("trust", "list", check=0).stdout.splitlines()]

    def expires(k):
        import datetime
        return datetime.datetime.fromtimestamp(k.expires, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    assert rows == [["PREFIX", "FINGERPRINT", "UID", "EXPIRES", "STORE"],
                    ["(root)", mallory.fpr, mallory.uid, expires(mallory), "local"],
                    [NAME, alice.fpr, alice.uid, expires(alice), "local"],
                    ["example.org", alice.fpr, alice.uid, expires(alice), "local"]]
    js = json.loads(pod.run("trust", "list", "--format=json", check=0).stdout)
    assert js[1] == {"prefix": NAME, "root": False, "fingerprint": alice.fpr, "uids": [alice.uid],
                     "expires": expires(alice), "expired": False, "revoked": False, "store": "local",
                     "path": key_path(pod, NAME, alice.fpr)}
    r = pod.run("trust", "rm", alice.fpr.lower(), check=0)
    assert r.stdout == (f'Removed key {alice.fpr} for prefix "{NAME}"\n'
                        f'Removed key {alice.fpr} for prefix "example.org"\n')
    assert not os.path.exists(os.path.join(pod.dir, "trustedkeys", "prefix.d", "example.com"))
    r = pod.run("trust", "rm", alice.fpr, check=3)
    assert r.stderr == f"pod: no trusted key {alice.fpr} (see pod trust list)\n"
    assert pod.run("trust", "rm", "nothex", check=2).stderr.startswith('pod: "nothex" is not a key fingerprint')
    assert [k["fingerprint"] for k in json.loads(pod.run("trust", "list", "--format=json", check=0).stdout)] == [
        mallory.fpr]


def test_trust_refuses(pod, keys, tmp_path):
    alice, g = keys["alice"], keys["gpg"]
    r = pod.run("trust", f"--prefix={NAME}", alice.file, check=2, input="yes\n")  # stdin is a pipe
    assert r.stderr == ("pod: stdin is not a terminal, so the key's fingerprint cannot be reviewed; check it "
                        "(gpg --show-keys KEY.asc) and give --skip-fingerprint-review\n")
    two = tmp_path / "two.asc"
    two.write_bytes(g("--armor", "--export", alice.email, keys["mallory"].email).stdout)
    assert trust(pod, f"--prefix={NAME}", str(two), check=2).stderr == (
        f"pod: {two} holds 2 keys; give one key per file (pod trust takes one at a time)\n")
    secret = tmp_path / "secret.asc"
    secret.write_bytes(g("--armor", "--export-secret-keys", alice.email).stdout)
    assert trust(pod, f"--prefix={NAME}", str(secret), check=2).stderr == (
        f"pod: {secret} holds a secret key; export the public key only (gpg --armor --export FINGERPRINT)\n")
    junk = tmp_path / "junk.asc"
    junk.write_text("not a key\n")
    assert trust(pod, f"--prefix={NAME}", str(junk), check=2).stderr == f"pod: {junk} holds no OpenPGP public key\n"
    assert trust(pod, f"--prefix={NAME}", str(tmp_path / "nope.asc"), check=3).stderr == (
        f"pod: key file {tmp_path / 'nope.asc'} does not exist\n")
    for bad in ("../etc", "/etc/pod", "example.com/../x", "Example.com"):
        r = trust(pod, f"--prefix={bad}", alice.file, check=2)
        assert r.stderr.startswith(f'pod: "{bad}" is not an image name prefix'), r.stderr
    assert trust(pod, alice.file, check=2).stderr == "pod: give either --prefix=NAME-PREFIX or --root\n"
    assert trust(pod, "--root", f"--prefix={NAME}", alice.file, check=2).stderr == (
        "pod: give either --prefix=NAME-PREFIX or --root\n")
    assert not os.path.exists(os.path.join(pod.dir, "trustedkeys", "prefix.d"))


def test_trust_review_on_a_terminal(pod, keys):
    import pty
    alice = keys["alice"]
    for answer, rc in (("no", 1), ("yes", 0)):
        master, slave = pty.openpty()
        p = subprocess.Popen([POD_BIN, "--dir", pod.dir, "trust", f"--prefix={NAME}", alice.file], stdin=slave,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.close(slave)
        os.write(master, (answer + "\n").encode())
        out, err = p.communicate(timeout=60)
        os.close(master)
        assert p.returncode == rc, err
        assert f"Fingerprint: {alice.fpr}\n  uid: {alice.uid}\n" in err
        assert f'Trust this key for image names under "{NAME}"?' in err
    assert out == f'Added key {alice.fpr} for prefix "{NAME}" at {key_path(pod, NAME, alice.fpr)}\n'


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl tool")
def test_https_and_discovery(pod, keys, https_server):  # noqa: F811
    root, port, cert, _ = https_server
    alice, mallory = keys["alice"], keys["mallory"]
    env = {"SSL_CERT_FILE": cert, "POD_DISCOVERY_PORT": str(port)}
    trust(pod, "--prefix=localhost", alice.file)

    def remote(fname, name, key, **m):
        path = str(root / fname)
        simple_aci(path, m=manifest(name, **m))
        if key:
            key.sign(path)
        return path, f"https://localhost:{port}/{fname}"

    good, url = remote("x.aci", "localhost/remote", alice)
    assert pod.run("fetch", "--full", url, env=env, check=0).stdout == image_id(good) + "\n"
    # The signature beside the image in discovery's template ({ext} = aci.asc).
    disc, _ = remote("acis/localhost/app-2.0-linux-amd64.aci", "localhost/app", alice,
                     labels=[{"name": "version", "value": "2.0"}])
    assert pod.run("fetch", "--full", "localhost/app:2.0", env=env, check=0).stdout == image_id(disc) + "\n"
    _, url = remote("m.aci", "localhost/m", mallory)
    r = pod.run("fetch", url, env=env, check=1)
    assert r.stderr == not_trusted(url, mallory, "localhost/m")
    _, url = remote("u.aci", "localhost/u", None)
    r = pod.run("fetch", url, env=env, check=1)
    assert r.stderr == (f"pod: image {url} is not signed (no {url}.asc); "
                        "give --insecure-options=image to fetch it without a signature\n")
    r = pod.run("fetch", "--insecure-options=image", url, env=env, check=0)
    assert r.stderr == f"warning: image {url} was not signature-checked (--insecure-options=image)\n"
    assert sorted(i["name"] for i in images(pod)) == ["localhost/app", "localhost/remote", "localhost/u"]
    assert os.listdir(os.path.join(pod.dir, "images", "tmp")) == []


def test_file_changed_during_the_fetch(pod, keys, tmp_path):
    """What was verified is what was imported: a file touched after the import began is refused."""
    import signal
    import time
    trust(pod, f"--prefix={NAME}", keys["alice"].file)
    aci = signed_aci(tmp_path, keys["alice"])
    env = dict(os.environ, POD_PAUSEPOINT="image-import-extracted")
    p = subprocess.Popen([POD_BIN, "--dir", pod.dir, "fetch", aci], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while open(f"/proc/{p.pid}/stat").read().split(") ")[1][0] != "T":  # stopped at the point
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()
            time.sleep(0.01)
        os.utime(aci, (1, 1))  # the same bytes (the signature still matches), another identity
    finally:
        p.send_signal(signal.SIGCONT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1 and err == f"pod: image file {aci} changed while it was being fetched; fetch it again\n"
    nothing_stored(pod)
    assert pod.run("fetch", "--full", aci, check=0).stdout == image_id(aci) + "\n"


def test_prepare_checks_the_apps_not_the_stage1(pod, keys, tmp_path):
    s1 = str(tmp_path / "stage1.aci")  # unsigned: the operator chose it, so it is neither checked nor warned about
    simple_aci(s1, m=manifest("example.org/fake-stage1", annotations=[{"name": "pod/stage1/run", "value": "/run"}]))
    app = signed_aci(tmp_path, None)
    r = pod.run("prepare", f"--stage1-path={s1}", app, "--exec", "/bin/true", check=1)
    assert r.stderr == (f"pod: image {app} is not signed (no {app}.asc); "
                        "give --insecure-options=image to fetch it without a signature\n")
    assert [i["name"] for i in images(pod)] == ["example.org/fake-stage1"]
    assert os.listdir(os.path.join(pod.dir, "pods", "prepare")) == []
    keys["alice"].sign(app)
    r = pod.run("prepare", f"--stage1-path={s1}", app, "--exec", "/bin/true", check=1)
    assert r.stderr == not_trusted(app, keys["alice"])
