"""App output reaches the journal with POD_UUID=/POD_APP= fields when journald runs; log files stay.

systemd is not PID 1 on the machines this is developed on, so the test starts a real systemd-journald of
its own in a private mount namespace (tmpfs over /run/systemd and /run/log), runs the pod there and asks
journalctl. Nothing of it is visible to the host.
"""
import os
import re
import shutil
import subprocess

import pytest

from conftest import POD_BIN
from runhelpers import BUSYBOX_ACI, STAGE1, both, flavor, logs, sh  # noqa: F401 (fixture)

JOURNALD = "/lib/systemd/systemd-journald"

# $1 = the uuid file `pod run` saves; the rest is the `pod run` command line.
SCRIPT = r'''
set -eu
# Never let this journald touch the host's /run: stop here unless both tmpfs mounts are in place.
mkdir -p /run/systemd /run/log
mount -t tmpfs tmpfs /run/systemd
mount -t tmpfs tmpfs /run/log
set +e
''' + JOURNALD + r''' & J=$!
trap 'kill $J; wait $J' EXIT
for i in $(seq 200); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
uuid_file=$1; shift
"$@"; rc=$?
echo "pod-run-exit=$rc"
u=$(cat "$uuid_file")
for i in $(seq 100); do
    out=$(journalctl --no-pager -o cat POD_UUID="$u" POD_APP=busybox)
    case "$out" in *last-line*) break;; esac
    sleep 0.1
done
journalctl --no-pager -o export POD_UUID="$u" | grep -E '^(MESSAGE|POD_APP|POD_UUID|SYSLOG_IDENTIFIER)='
'''


def run_in_journal(pod, flavor, tmp_path, wrapper=()):
    """`pod run` of the test app under a private journald; returns (uuid, journal fields, script output)."""
    if not os.access(JOURNALD, os.X_OK) or not shutil.which("journalctl"):
        pytest.skip("systemd-journald/journalctl are not installed")
    uuid_file = str(tmp_path / "uuid")
    cmd = [*wrapper, POD_BIN, "--dir", pod.dir, "run", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}",
           f"--uuid-file-save={uuid_file}", BUSYBOX_ACI,
           *sh("echo first line; echo to-stderr >&2; printf 'no newline at the end: last-line'")]
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", SCRIPT, "sh", uuid_file, *cmd],
                       capture_output=True, text=True, timeout=300)
    assert "pod-run-exit=0" in r.stdout, r.stdout + r.stderr
    return open(uuid_file).read().strip(), r.stdout.splitlines(), r.stdout + r.stderr


@both
def test_app_output_goes_to_the_journal_with_pod_fields(pod, flavor, tmp_path):
    uuid, fields, out = run_in_journal(pod, flavor, tmp_path)
    messages = [l[len("MESSAGE="):] for l in fields if l.startswith("MESSAGE=")]
    # stdout and stderr are two pipes: lines of one stream keep their order, not across the two.
    want = ["first line", "to-stderr", "no newline at the end: last-line"]
    assert sorted(messages) == sorted(want), out
    assert messages.index("first line") < messages.index(want[2])
    assert fields.count(f"POD_UUID={uuid}") == 3 and fields.count("POD_APP=busybox") == 3
    assert fields.count("SYSLOG_IDENTIFIER=busybox") == 3
    # The log file `pod logs` reads is still written.
    assert sorted(logs(pod, uuid).splitlines()) == sorted(want)


@both
def test_no_copy_to_a_stdout_that_is_the_journal(pod, flavor, tmp_path):
    # As in a unit with StandardOutput=journal: $JOURNAL_STREAM names stdout and stderr. The forwarder puts
    # every line in the journal already, so the pod init copies nothing there.
    stdio = str(tmp_path / "stdio")
    wrapper = ["sh", "-c", ': > "$0"; JOURNAL_STREAM=$(stat -c %d:%i "$0") exec "$@" >>"$0" 2>&1', stdio]
    uuid, fields, out = run_in_journal(pod, flavor, tmp_path, wrapper)
    assert sum(l.startswith("MESSAGE=") for l in fields) == 3, out
    copied = open(stdio).read()  # (where the kvm flavour may say that it uses TCG)
    assert not any(w in copied for w in ("first line", "to-stderr", "last-line")), copied
    assert "first line" in logs(pod, uuid)
    # The init still reads (and times) the output it does not copy: pod logs --timestamps stamps every line.
    stamped = pod.run("logs", "--timestamps", uuid, check=0).stdout.splitlines()
    assert len(stamped) == 3 and all(re.match(r"\d{4}-\d\d-\d\dT[\d:.]{18}Z ", l) for l in stamped), stamped
