"""Pod hooks: --hook prestart|poststart|poststop=CMD on the host with the pod's state JSON on stdin."""
import json
import os
import time

from runhelpers import BUSYBOX_ACI, both, flavor, run_pod, sh, status  # noqa: F401 (fixture)


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def hook_writer(tmp_path, name):
    """A hook command saving its stdin (the state JSON) and its cwd to tmp_path/<name>.json."""
    out = tmp_path / f"{name}.json"
    return f"{name}=cat > {out}.tmp && pwd > {out}.cwd && mv {out}.tmp {out}", out


@both
def test_hooks_see_the_state_json(pod, flavor, tmp_path):
    pre, pre_out = hook_writer(tmp_path, "prestart")
    post, post_out = hook_writer(tmp_path, "poststart")
    stop, stop_out = hook_writer(tmp_path, "poststop")
    r, u = run_pod(pod, flavor, *sh("sleep 1; exit 4"),
                   pod_flags=["--hook", pre, "--hook", post, "--hook", stop, "--hook-timeout=20s"])
    assert r.returncode == 4, r.stderr
    s = json.loads(pre_out.read_text())
    assert s["ociVersion"] and s["id"] == u and s["status"] == "creating" and "pid" not in s
    assert os.path.basename(s["bundle"]) == u and s["annotations"] == {}
    wait_for(lambda: stop_out.exists(), 30, "the poststop hook")
    s = json.loads(post_out.read_text())
    assert s["status"] == "running" and s["pid"] > 0 and s["id"] == u
    s = json.loads(stop_out.read_text())
    assert s["status"] == "stopped" and s["id"] == u
    assert (tmp_path / "poststop.json.cwd").read_text().strip() == s["bundle"]
    wait_for(lambda: status(pod, u).get("hook-poststop") == "0", 30, "the poststop record")
    st = status(pod, u)
    assert st["hook-prestart"] == "0" and st["hook-poststart"] == "0" and st["state"] == "exited"


def test_failing_prestart_aborts_the_start_with_its_output(pod):
    r = pod.run("prepare", "--insecure-options=image", "--hook", "prestart=echo no entry; exit 9", BUSYBOX_ACI,
                check=0)
    u = r.stdout.strip().strip('"')
    r = pod.run("run-prepared", u)
    assert r.returncode == 125
    assert "prestart hook exited with status 9: no entry" in r.stderr
    st = status(pod, u)
    assert st["state"] == "prepared" and st["hook-prestart"] == "9"  # nothing started: it can be retried
    j = json.loads(pod.run("status", "--format=json", u, check=0).stdout)
    assert j["hooks"]["prestart"] == {"exitCode": 9, "timedOut": False, "output": "no entry\n"}


def test_prestart_timeout(pod):
    r, u = run_pod(pod, "nspawn", *sh("true"), pod_flags=["--hook", "prestart=sleep 30", "--hook-timeout=500ms"])
    assert r.returncode == 125 and "prestart hook timed out after 500 ms" in r.stderr


def test_failing_poststop_is_reported_and_does_not_block_gc(pod, tmp_path):
    r, u = run_pod(pod, "nspawn", *sh("true"), pod_flags=["--hook", "poststop=echo cleanup failed >&2; exit 3"])
    assert r.returncode == 0
    wait_for(lambda: status(pod, u).get("hook-poststop") == "3", 30, "the poststop record")
    j = json.loads(pod.run("status", "--format=json", u, check=0).stdout)
    assert j["hooks"]["poststop"]["output"] == "cleanup failed\n"
    pod.run("gc", "--grace-period=0", check=0)
    assert pod.run("status", u).returncode == 3


def test_bad_hook_flag(pod):
    r = pod.run("prepare", "--insecure-options=image", "--hook", "prerun=true", BUSYBOX_ACI)
    assert r.returncode == 2 and "--hook prerun=true" in r.stderr
