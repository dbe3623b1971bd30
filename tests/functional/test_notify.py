"""sd_notify readiness through `pod run` with a real NOTIFY_SOCKET listener (no systemd needed).

The test image carries a static sd_notify sender (tests/tools/sd-notify-send.cpp) and, when it declares
`appc.io/executor/supports-systemd-notify`, the app's own READY=1 is what `pod run` passes up.
"""
import os
import socket
import struct
import subprocess
import time

import pytest

from acis import dir_entry, file_entry, manifest, manifest_entry, symlink_entry, write_aci
from conftest import BUILD, POD_BIN
from runhelpers import STAGE1, both, flavor, sh  # noqa: F401 (fixture)

SENDER = os.path.join(BUILD, "tests", "sd-notify-send")
ANNOTATION = "appc.io/executor/supports-systemd-notify"


def notify_aci(path, name, annotated):
    """busybox (static, from the host) + sd-notify-send, optionally declaring notify support."""
    with open("/bin/busybox", "rb") as f:
        busybox = f.read()
    with open(SENDER, "rb") as f:
        sender = f.read()
    m = manifest(name, app={"exec": ["/bin/sh", "-c", "true"], "user": "0", "group": "0",
                            "environment": [{"name": "PATH", "value": "/bin"}]})
    if annotated:
        m["annotations"] = [{"name": ANNOTATION, "value": "true"}]
    entries = [manifest_entry(m), dir_entry("rootfs"), dir_entry("rootfs/bin"), dir_entry("rootfs/tmp", 0o1777),
               file_entry("rootfs/bin/busybox", busybox, 0o755), file_entry("rootfs/bin/sd-notify-send", sender, 0o755)]
    entries += [symlink_entry(f"rootfs/bin/{t}", "busybox") for t in ("sh", "sleep", "echo", "cat", "id")]
    return write_aci(path, entries)


class Listener:
    """Plays the service manager: a datagram socket NOTIFY_SOCKET points to; records the sender's pid."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.messages = []  # (text, sender pid)

    def collect(self, proc, until=None, timeout=120):
        """Receive until `until(text)` matches or `proc` has exited and nothing more is queued."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                if proc.poll() is not None:
                    return self.messages
                continue
            pid = next((struct.unpack("iII", d)[0] for lvl, typ, d in anc
                        if lvl == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS), None)
            self.messages.append((data.decode(), pid))
            if until and until(data.decode()):
                return self.messages
        raise AssertionError(f"no matching notification in {timeout}s: {self.messages}")

    def close(self):
        self.sock.close()


@pytest.fixture
def listener(tmp_path):
    ln = Listener(str(tmp_path / "notify"))
    yield ln
    ln.close()


def start(pod, flavor, listener, *args, pod_flags=()):
    cmd = [POD_BIN, "--dir", pod.dir, "run", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}",
           *pod_flags, *args]
    env = dict(os.environ, NOTIFY_SOCKET=listener.path)
    return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def lines(text):
    return text.strip("\n").split("\n")


@both
def test_app_readiness_is_the_apps_own(pod, flavor, listener, tmp_path):
    img = notify_aci(str(tmp_path / "n.aci"), "example.com/notify", annotated=True)
    # The app reports a status, is busy for a while, then says READY=1 (with a MAINPID= the relay must drop).
    p = start(pod, flavor, listener, img, *sh(
        "sd-notify-send STATUS=warming-up; sleep 1; sd-notify-send READY=1 STATUS=serving MAINPID=1; sleep 1"))
    msgs = listener.collect(p, until=lambda t: "READY=1" in lines(t))
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    texts = [t for t, _ in msgs]
    assert texts[0] == "STATUS=warming-up", texts  # no READY=1 from the stage1 before the app's own
    assert sum("READY=1" in lines(t) for t in texts) == 1
    assert set(lines(texts[-1])) == {"READY=1", "STATUS=serving"}, texts  # MAINPID= never reaches the manager
    assert {pid for _, pid in msgs} == {p.pid}  # sent by the unit's main process (`pod run`, exec'd into stage1)


def test_without_the_annotation_ready_means_started(pod, flavor, listener, tmp_path):
    img = notify_aci(str(tmp_path / "n.aci"), "example.com/plain", annotated=False)
    p = start(pod, flavor, listener, img, *sh("sleep 3"))
    msgs = listener.collect(p, until=lambda t: "READY=1" in lines(t))
    assert p.poll() is None, "READY=1 must come while the app still runs"
    assert set(lines(msgs[-1][0])) == {"READY=1", "STATUS=pod started"}
    p.communicate(timeout=60)
    assert p.returncode == 0


def test_started_mode_ignores_the_apps_socket(pod, flavor, listener, tmp_path):
    img = notify_aci(str(tmp_path / "n.aci"), "example.com/notify", annotated=True)
    p = start(pod, flavor, listener, img, *sh('test -z "$NOTIFY_SOCKET" && sleep 1'),
              pod_flags=["--notify-ready=started"])
    msgs = listener.collect(p, until=lambda t: "READY=1" in lines(t))
    p.communicate(timeout=60)
    assert p.returncode == 0, "the app must not get a NOTIFY_SOCKET in started mode"
    assert "STATUS=pod started" in lines(msgs[-1][0])


def test_none_sends_nothing(pod, flavor, listener, tmp_path):
    img = notify_aci(str(tmp_path / "n.aci"), "example.com/notify", annotated=True)
    p = start(pod, flavor, listener, img, *sh("sd-notify-send READY=1 && exit 9; exit 7"),
              pod_flags=["--notify-ready=none"])
    msgs = listener.collect(p)
    assert p.wait(timeout=60) == 7  # the app had no NOTIFY_SOCKET
    assert msgs == []


def test_two_apps_ready_only_when_both_are(pod, flavor, listener, tmp_path):
    img = notify_aci(str(tmp_path / "n.aci"), "example.com/notify", annotated=True)
    p = start(pod, flavor, listener,
              img, "--name", "fast", *sh("sd-notify-send READY=1; sleep 2"), "---",
              img, "--name", "slow", "--user", "1000", "--group", "1000",  # the socket is usable by any user
              *sh("sleep 1; sd-notify-send STATUS=slow-ready READY=1; sleep 1"))
    msgs = listener.collect(p, until=lambda t: "READY=1" in lines(t))
    p.communicate(timeout=60)
    assert p.returncode == 0
    # READY=1 goes out with the slow app's own message, not with the fast one's.
    assert set(lines(msgs[-1][0])) == {"STATUS=slow-ready", "READY=1"}, msgs


def test_explicit_app_mode_on_images_without_the_annotation(pod, flavor, listener, tmp_path):
    img = notify_aci(str(tmp_path / "n.aci"), "example.com/plain", annotated=False)
    p = start(pod, flavor, listener, img, *sh("sleep 1; sd-notify-send READY=1 STATUS=mine; sleep 1"),
              pod_flags=["--notify-ready=app"])
    msgs = listener.collect(p, until=lambda t: "READY=1" in lines(t))
    p.communicate(timeout=60)
    assert p.returncode == 0
    assert [set(lines(t)) for t, _ in msgs] == [{"READY=1", "STATUS=mine"}]
