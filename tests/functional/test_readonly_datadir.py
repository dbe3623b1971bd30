"""The read-only commands (list, status, logs, cat-manifest, image list, image cat-manifest, config,
trust list, version, fsck without --repair) work on a read-only data dir; a command that writes fails there with a clear error naming the data dir."""
import json
import os
import subprocess
import tempfile

import pytest

from conftest import Pod, needs_root
from runhelpers import BUSYBOX_ACI, STAGE1, flavor_skip_reason


@needs_root()
def test_read_only_commands_on_a_read_only_data_dir(pod):
    if flavor_skip_reason("nspawn"):
        pytest.skip(flavor_skip_reason("nspawn"))
    r = pod.run("run", "--insecure-options=image", f"--stage1-path={STAGE1['nspawn']}", BUSYBOX_ACI,
                "--exec", "/bin/echo", "--", "written-before", check=0)
    uuid = json.loads(pod.run("list", "--format=json", check=0).stdout)[0]["uuid"]
    view = tempfile.mkdtemp(prefix="pod-ro-")
    subprocess.run(["mount", "--bind", "-o", "ro", pod.dir, view], check=True)
    try:
        ro = Pod(view)
        pods = json.loads(ro.run("list", "--format=json", check=0).stdout)
        assert [(p["uuid"], p["state"]) for p in pods] == [(uuid, "exited")]
        assert "state=exited" in ro.run("status", uuid, check=0).stdout
        assert ro.run("logs", uuid, check=0).stdout == "written-before\n"
        assert json.loads(ro.run("cat-manifest", uuid, check=0).stdout)["apps"][0]["name"] == "busybox"
        assert "example.com/busybox" in ro.run("image", "list", check=0).stdout
        assert json.loads(ro.run("image", "cat-manifest", "example.com/busybox", check=0).stdout)["name"] == \
            "example.com/busybox"
        one_line = ro.run("image", "cat-manifest", "--format=json", "--show-setuid", "example.com/busybox", check=0)
        assert one_line.stdout.count("\n") == 1
        assert json.loads(one_line.stdout)["manifest"]["name"] == "example.com/busybox"
        assert json.loads(ro.run("cat-manifest", "--format=json", uuid, check=0).stdout)["apps"][0]["name"] == "busybox"
        assert json.loads(ro.run("config", "--format=json", check=0).stdout)["settings"]
        assert json.loads(ro.run("trust", "list", "--format=json", check=0).stdout) == []
        assert json.loads(ro.run("version", "--format=json", check=0).stdout)["dataDir"] == view
        fsck = ro.run("fsck", "--format=json")
        assert fsck.returncode in (0, 5), fsck.stderr  # 5 only for the machine's orphan pod cgroups
        assert [f for f in json.loads(fsck.stdout)["findings"] if f["area"] != "host"] == []
        r = ro.run("fsck", "--repair")
        assert r.returncode == 1 and f"data directory {view} is not writable" in r.stderr
        r = ro.run("rm", uuid)
        assert r.returncode == 1, r.stderr
        assert f"data directory {view} is not writable (Read-only file system)" in r.stderr
    finally:
        subprocess.run(["umount", view], check=True)
        os.rmdir(view)
    assert pod.run("status", uuid, check=0).stdout.startswith("state=exited")


def test_errors_are_one_json_object_with_format_json(pod):
    r = pod.run("status", "--format=json", "00000000")
    assert r.returncode == 3, r.stderr
    assert r.stdout == ""
    assert json.loads(r.stderr) == {"category": "not-found", "errno": 2, "exitCode": 3, "item": "00000000",
                                    "message": 'no pod matches "00000000"'}
    r = pod.run("list", "--format=json-pretty", env={"POD_STAGE1_CONFIG": "/nonexistent"})
    assert r.returncode == 0 and json.loads(r.stdout) == []
    r = pod.run("status", "--format=json-pretty", "not-a-uuid")
    assert r.returncode == 2
    err = json.loads(r.stderr)
    assert err["category"] == "usage" and err["exitCode"] == 2 and "not-a-uuid" in err["message"]
    assert err["item"] == "not-a-uuid"
    r = pod.run("image", "cat-manifest", "--format=json", "example.com/nothing")
    assert r.returncode == 3 and r.stdout == ""
    assert json.loads(r.stderr)["item"] == "example.com/nothing"
    r = pod.run("fsck", "--format=json", env={"POD_CONFIG": "/nonexistent/pod.json"})
    assert r.returncode in (0, 5), r.stderr  # fsck does not read the configuration
    r = pod.run("config", "--format=json", env={"POD_CONFIG": "/nonexistent/pod.json"})
    err = json.loads(r.stderr)
    assert r.returncode == 1 and err["category"] == "invalid" and err["item"] == "/nonexistent/pod.json", r.stderr
    r = pod.run("status", "not-a-uuid")  # text format: the usual line
    assert r.returncode == 2 and r.stderr.startswith("pod: ") and "not-a-uuid" in r.stderr
