"""App output reaches the journal with POD_UUID=/POD_APP= fields when journald runs; log files stay.

systemd is not PID 1 on the machines this is developed on, so the test starts a real systemd-journald of
its own in a private mount namespace (tmpfs over /run/systemd and /run/log), runs the pod there and asks
journalctl. Nothing of it is visible to the host.
"""
import os
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


@both
def test_app_output_goes_to_the_journal_with_pod_fields(pod, flavor, tmp_path):
    if not os.access(JOURNALD, os.X_OK) or not shutil.which("journalctl"):
        pytest.skip("systemd-journald/journalctl are not installed")
    uuid_file = str(tmp_path / "uuid")
    cmd = [POD_BIN, "--dir", pod.dir, "run", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}",
           f"--uuid-file-save={uuid_file}", BUSYBOX_ACI,
           *sh("echo first line; echo to-stderr >&2; printf 'no newline at the end: last-line'")]
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", SCRIPT, "sh", uuid_file, *cmd],
                       capture_output=True, text=True, timeout=300)
    assert "pod-run-exit=0" in r.stdout, r.stdout + r.stderr
    uuid = open(uuid_file).read().strip()
    fields = r.stdout.splitlines()
    messages = [l[len("MESSAGE="):] for l in fields if l.startswith("MESSAGE=")]
    assert messages == ["first line", "to-stderr", "no newline at the end: last-line"], r.stdout + r.stderr
    assert fields.count(f"POD_UUID={uuid}") == 3 and fields.count("POD_APP=busybox") == 3
    assert fields.count("SYSLOG_IDENTIFIER=busybox") == 3
    # The log file `pod logs` reads is still written.
    assert logs(pod, uuid).startswith("first line\nto-stderr\n")

