"""Isolation that is enforced (Documentation/isolation.md): per-app limits, capabilities, seccomp sets and
masked paths on the real nspawn stage1, image-manifest isolators, and the errors for bad values."""
import json
import os
import time

import pytest

from acis import busybox_variant
from runhelpers import BUSYBOX_ACI, STAGE1, flavor_skip_reason, logs, reap_pod, run_pod, sh, start_pod, status


@pytest.fixture(params=["nspawn", "native"])
def flavor(request):
    """The flavours whose pod init runs on the host: both enforce every isolator with the same init and the
    same v1 resource cgroups (stage1/resources.hpp); the kvm guest's test is below."""
    reason = flavor_skip_reason(request.param)
    if reason:
        pytest.skip(reason)
    return request.param


def limited_busybox(path, isolators, name="example.com/busybox-limited"):
    """The busybox image under another name, with `isolators` in its app section."""
    return busybox_variant(path, name, app={"isolators": isolators})


def v1_controller_dir(controller):
    with open("/proc/self/mounts") as f:
        for line in f:
            src, mnt, typ, opts = line.split()[:4]
            if typ == "cgroup" and controller in opts.split(","):
                return mnt
    return None


def test_memory_limit_oom_kills(pod, flavor):
    alloc = "dd if=/dev/zero of=/dev/null bs=200M count=1 && echo allocated"
    r, u = run_pod(pod, flavor, "--memory=32M", *sh(alloc))
    assert r.returncode == 137, r.stderr
    st = status(pod, u)
    assert st["app-busybox"] == "137" and st["app-busybox-oom-killed"] == "true"
    assert st["app-busybox-isolator"] == 'resource/memory {"limit":"32M"}'
    j = json.loads(pod.run("status", "--format=json", u, check=0).stdout)
    app = j["apps"][0]
    assert app["oomKilled"] is True and app["exitCode"] == 137  # the shell's dd was killed
    assert app["isolators"] == [{"name": "resource/memory", "value": {"limit": "32M"}}]
    manifest = json.loads(pod.run("cat-manifest", u, check=0).stdout)
    assert manifest["apps"][0]["app"]["isolators"] == [{"name": "resource/memory", "value": {"limit": "32M"}}]
    # The same allocation without the limit passes.
    r, u = run_pod(pod, flavor, *sh(alloc))
    assert r.returncode == 0, r.stderr
    assert "allocated" in logs(pod, u) and "app-busybox-oom-killed" not in status(pod, u)


def test_enter_runs_under_the_apps_limits(pod, flavor):
    """`pod enter` joins the app's cgroups (the pod's v1 ones, then the init's app-NAME in each hierarchy): the
    entered command is held to the app's memory limit as the app is."""
    p, u = start_pod(pod, flavor, "--memory=32M", "--pids-limit=64", *sh("sleep 600"))
    try:
        r = pod.run("enter", u, "--", "/bin/sh", "-c", "cat /proc/self/cgroup", check=0, timeout=60)
        lines = r.stdout.splitlines()
        v1 = [l for l in lines if l.split(":")[1] in ("memory", "pids")]
        if v1_controller_dir("memory"):  # hybrid: the v1 controllers, seen from the pod's cgroup namespace
            assert sorted(l.split(":", 1)[1] for l in v1) == ["memory:/app-busybox", "pids:/app-busybox"], lines
        else:
            assert "0::/app-busybox" in lines, lines
        r = pod.run("enter", u, "--", "/bin/sh", "-c", "dd if=/dev/zero of=/dev/null bs=200M count=1 && echo ok",
                    timeout=60)
        assert r.returncode == 137 and "ok" not in r.stdout, (r.returncode, r.stdout, r.stderr)
    finally:
        reap_pod(pod, p, u)


def test_cpu_limit_throttles(pod, flavor):
    cpu = v1_controller_dir("cpu")
    if not cpu:
        pytest.skip("the cpu controller is not a v1 hierarchy here (the check reads the host's v1 cpu.stat)")
    p, u = start_pod(pod, flavor, "--cpu=100m", "--cpu-shares=512", *sh("while :; do :; done"))
    try:
        app_cg = os.path.join(cpu, "pod", "pod-" + u, "app-busybox")
        assert open(os.path.join(app_cg, "cpu.cfs_quota_us")).read().strip() == "10000"
        assert open(os.path.join(app_cg, "cpu.cfs_period_us")).read().strip() == "100000"
        assert open(os.path.join(app_cg, "cpu.shares")).read().strip() == "512"
        time.sleep(1.5)
        stat = dict(l.split() for l in open(os.path.join(app_cg, "cpu.stat")))
        assert int(stat["nr_throttled"]) > 0 and int(stat["throttled_time"]) > 0, stat
    finally:
        pod.run("stop", u, check=0)
        p.communicate(timeout=60)


def test_pids_limit(pod, flavor):
    script = "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait"
    r, u = run_pod(pod, flavor, "--pids-limit=5", *sh(script))
    assert "can't fork" in logs(pod, u), logs(pod, u)
    r, u = run_pod(pod, flavor, *sh(script))
    assert r.returncode == 0 and "can't fork" not in logs(pod, u)


def test_dropped_capability(pod, flavor):
    script = "touch /tmp/f; chown 1:1 /tmp/f && echo chowned"
    r, u = run_pod(pod, flavor, "--caps-remove=CAP_CHOWN", *sh(script))
    assert r.returncode == 1 and "Operation not permitted" in logs(pod, u), logs(pod, u)
    r, u = run_pod(pod, flavor, *sh(script))
    assert r.returncode == 0 and "chowned" in logs(pod, u)
    # A retain set keeps only what it names.
    r, u = run_pod(pod, flavor, "--caps-retain=CAP_KILL", *sh("grep CapBnd /proc/self/status"))
    assert r.returncode == 0 and "CapBnd:\t0000000000000020" in logs(pod, u), logs(pod, u)


def test_seccomp_sets(pod, flavor):
    r, u = run_pod(pod, flavor, "--seccomp=mode=remove,errno=ENOSYS,mkdir,mkdirat", *sh("mkdir /tmp/d"))
    assert r.returncode == 1 and "Function not implemented" in logs(pod, u), logs(pod, u)
    r, u = run_pod(pod, flavor, "--seccomp=mode=remove,mkdir,mkdirat", *sh("mkdir /tmp/d"))
    assert r.returncode == 1 and "Operation not permitted" in logs(pod, u), logs(pod, u)
    r, u = run_pod(pod, flavor, "--seccomp=mode=remove,errno=ENOSYS,@swap", *sh("mkdir /tmp/d && echo made"))
    assert r.returncode == 0 and "made" in logs(pod, u)


def test_oom_score_adj(pod, flavor):
    r, u = run_pod(pod, flavor, "--oom-score-adj=500", *sh("cat /proc/self/oom_score_adj"))
    assert r.returncode == 0 and logs(pod, u).strip() == "500"


def test_masked_paths(pod, flavor):
    # (/proc/kcore and /proc/sched_debug are masked too where the kernel has them; this one has not.)
    script = ("echo timers=$(wc -c </proc/timer_list) keys=$(wc -c </proc/keys) fw=$(ls /sys/firmware | wc -l);"
              " echo 1 >/proc/sys/kernel/ns_last_pid")
    r, u = run_pod(pod, flavor, *sh(script))
    out = logs(pod, u)
    assert "timers=0 keys=0 fw=0" in out and "ns_last_pid: Read-only file system" in out, out
    r = pod.run("run", "--insecure-options=image,paths", f"--stage1-path={STAGE1[flavor]}", BUSYBOX_ACI,
                *sh("wc -c </proc/timer_list; ls /sys/firmware | wc -l"))
    assert r.returncode == 0 and all(int(n) > 0 for n in r.stdout.split()), r.stdout
    assert "default protections off" in r.stderr


def test_image_isolators_apply(pod, flavor, tmp_path):
    aci = limited_busybox(str(tmp_path / "limited.aci"), [
        {"name": "resource/memory", "value": {"limit": "32M"}},
        {"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_CHOWN"]}},
        {"name": "example.com/unknown-isolator", "value": {}},
    ])
    r = pod.run("run", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}", aci, *sh(
        "touch /tmp/f; chown 1:1 /tmp/f || echo no-chown; dd if=/dev/zero of=/dev/null bs=200M count=1"), timeout=120)
    assert r.returncode == 137, r.stderr
    assert "example.com/unknown-isolator: unknown isolator, ignored" in r.stderr
    # A flag overrides the image's memory limit.
    r = pod.run("run", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}", aci, "--memory=400Mi", *sh(
        "dd if=/dev/zero of=/dev/null bs=200M count=1 && echo allocated"), timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("flag,message", [
    ("--memory=-1", "--memory=-1: limit \"-1\" is not a size"),
    ("--memory=lots", "--memory=lots: limit \"lots\" is not a size"),
    ("--cpu=fast", "--cpu=fast: limit \"fast\" is not a CPU amount"),
    ("--caps-remove=CAP_NOPE", "--caps-remove=CAP_NOPE: unknown capability \"CAP_NOPE\""),
    ("--seccomp=mode=remove,nosuchcall", "unknown system call \"nosuchcall\""),
    ("--seccomp=mode=remove,errno=EWHAT,mkdir", "errno: unknown errno name \"EWHAT\""),
    ("--oom-score-adj=5000", "5000 is not a whole number from -1000 to 1000"),
])
def test_bad_flag_values(pod, flavor, flag, message):
    r, _ = run_pod(pod, flavor, flag, *sh("true"))
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert os.listdir(os.path.join(pod.dir, "pods", "prepared")) == [] if os.path.exists(
        os.path.join(pod.dir, "pods", "prepared")) else True


def test_bad_image_isolator(pod, flavor, tmp_path):
    aci = limited_busybox(str(tmp_path / "bad.aci"), [{"name": "resource/memory", "value": {"limit": "32X"}}])
    r = pod.run("prepare", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}", aci)
    assert r.returncode == 1 and "app busybox-limited: isolator resource/memory: limit \"32X\" is not a size" in r.stderr


def test_unenforceable_isolator_refused(pod, flavor, tmp_path):
    # resource/block-bandwidth is appc's, but no stage1 of ours enforces it.
    aci = limited_busybox(str(tmp_path / "bw.aci"), [{"name": "resource/block-bandwidth", "value": {"limit": "1M"}}])
    r = pod.run("prepare", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}", aci)
    assert r.returncode == 1, r.stderr
    assert "isolator resource/block-bandwidth cannot be enforced by the stage1" in r.stderr
    r = pod.run("prepare", "--insecure-options=image,isolators", f"--stage1-path={STAGE1[flavor]}", aci)
    assert r.returncode == 0 and "running without it" in r.stderr
    manifest = json.loads(pod.run("cat-manifest", r.stdout.strip(), check=0).stdout)
    assert "isolators" not in manifest["apps"][0]["app"]


def test_kvm_guest_enforces_limits(pod):
    """The same pod init enforces the per-app limits inside the kvm guest (cgroup v2 there)."""
    reason = flavor_skip_reason("kvm")
    if reason:
        pytest.skip(reason)
    kvm = ("--insecure-options=image", f"--stage1-path={STAGE1['kvm']}", "--stage1-opt", "accel=tcg")
    alloc = "dd if=/dev/zero of=/dev/null bs=200M count=1 && echo allocated"
    # The VM gets enough RAM for the allocation, the app a limit of 32 MB.
    r = pod.run("run", *kvm, "--stage1-opt", "memory=512Mi", BUSYBOX_ACI, "--memory=32M", *sh(alloc), timeout=300)
    assert r.returncode == 137, r.stderr
    uuid = json.loads(pod.run("list", "--format=json", check=0).stdout)[0]["uuid"]
    assert status(pod, uuid)["app-busybox-oom-killed"] == "true"
    r = pod.run("run", *kvm, BUSYBOX_ACI, "--pids-limit=5", "--caps-remove=CAP_CHOWN",
                *sh("touch /tmp/f; chown 1 /tmp/f; for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait"), timeout=300)
    assert "can't fork" in r.stderr and "Operation not permitted" in r.stderr, r.stderr
