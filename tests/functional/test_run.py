"""`pod run`, `prepare`, `run-prepared`, `enter`, `stop`, `logs`, `cat-manifest` with real stage1s.

Bodies are shared by both stage1 flavours: every test takes the `flavor` fixture. The kvm flavour runs
under software emulation on machines without working KVM, so only the tests marked `both` run for it.
"""
import json
import os
import signal
import subprocess
import time

import pytest

from runhelpers import (BUSYBOX_ACI, STAGE1, both, flavor, logs, mounts_under, run_pod, sh,  # noqa: F401 (fixture)
                        start_pod, status)


@both
def test_exit_codes(pod, flavor):
    r, u = run_pod(pod, flavor, *sh("exit 0"))
    assert r.returncode == 0, r.stderr
    assert status(pod, u)["app-busybox"] == "0"
    r, u = run_pod(pod, flavor, *sh("exit 3"))
    assert r.returncode == 3, r.stderr
    st = status(pod, u)
    assert st["state"] == "exited" and st["app-busybox"] == "3" and st["exited"] == "true"
    r, u = run_pod(pod, flavor, *sh("kill -9 $$"))
    assert r.returncode == 137, r.stderr
    assert status(pod, u)["app-busybox"] == "137"


@both
def test_env_user_workdir(pod, flavor):
    r, u = run_pod(pod, flavor, "--set-env", "FOO=bar baz", "--user", "user", "--group", "user",
                   "--working-dir", "/tmp",
                   *sh('echo "foo=$FOO app=$AC_APP_NAME"; echo "path=$PATH"; echo "id=$(id -u):$(id -g)"; pwd'))
    assert r.returncode == 0, r.stderr
    out = logs(pod, u)
    assert "foo=bar baz app=busybox" in out
    assert "path=/bin" in out  # the example image sets PATH; the executor's default applies only without it
    assert "id=1000:1000" in out
    assert "/tmp" in out.splitlines()
    r, u = run_pod(pod, flavor, "--user", "4242", "--group", "4343", *sh('echo "id=$(id -u):$(id -g)"'))
    assert r.returncode == 0 and "id=4242:4343" in logs(pod, u)


def test_env_file_and_inherit(pod, flavor, tmp_path):
    f = tmp_path / "env"
    f.write_text("# comment\nA=from-file\nB=from-file\n")
    # In the environment of `pod run`: one variable only it has, and three the image, the file and a flag override.
    host = {"POD_TEST_HOSTVAR": "from-pod-run-7f3a", "A": "from-host", "B": "from-host",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin") + ":/host/only/bin"}
    script = 'echo "A=$A B=$B HOSTVAR=[$POD_TEST_HOSTVAR] PATH=$PATH"'
    r, u = run_pod(pod, flavor, "--inherit-env", "--set-env-file", str(f), "--set-env", "B=from-flag", *sh(script),
                   env=host)
    assert r.returncode == 0, r.stderr
    # inherited < the image's environment (PATH=/bin) < --set-env-file < --set-env
    assert "A=from-file B=from-flag HOSTVAR=[from-pod-run-7f3a] PATH=/bin" in logs(pod, u)
    # Without --inherit-env nothing of pod run's environment reaches the app.
    r, u = run_pod(pod, flavor, *sh(script), env=host)
    assert r.returncode == 0, r.stderr
    assert "A= B= HOSTVAR=[] PATH=/bin" in logs(pod, u)


@both
def test_host_volume_recursive_false_hides_submounts(pod, flavor, tmp_path):
    data = tmp_path / "data"
    sub = data / "sub"
    sub.mkdir(parents=True)
    (sub / "under").write_text("under the mount\n")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(sub)], check=True)
    try:
        (sub / "on-submount").write_text("on the submount\n")
        script = "ls /data/sub; echo end"
        r, u = run_pod(pod, flavor, "--mount", "volume=data,target=/data", *sh(script),
                       pod_flags=[f"--volume=data,kind=host,source={data}"])
        assert r.returncode == 0, r.stderr
        assert logs(pod, u).split() == ["on-submount", "end"]  # recursive (the default): the tmpfs is there
        r, u = run_pod(pod, flavor, "--mount", "volume=data,target=/data", *sh(script),
                       pod_flags=[f"--volume=data,kind=host,source={data},recursive=false"])
        assert r.returncode == 0, r.stderr
        assert logs(pod, u).split() == ["under", "end"]  # the directory below the submount
        assert json.loads(pod.run("cat-manifest", u, check=0).stdout)["volumes"][0]["recursive"] is False
    finally:
        subprocess.run(["umount", "-l", str(sub)], check=True)


@both
def test_host_volumes_read_write_and_read_only(pod, flavor, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "in").write_text("hello from host\n")
    r, u = run_pod(pod, flavor, "--mount", "volume=data,target=/data",
                   *sh("cat /data/in; echo written > /data/out"),
                   pod_flags=[f"--volume=data,kind=host,source={data}"])
    assert r.returncode == 0, r.stderr
    assert "hello from host" in logs(pod, u)
    assert (data / "out").read_text() == "written\n"
    r, u = run_pod(pod, flavor, "--mount", "volume=data,target=/data", *sh("echo x > /data/ro-test"),
                   pod_flags=[f"--volume=data,kind=host,source={data},readOnly=true"])
    assert r.returncode == 1, r.stderr  # the app's status: sh failed to create the file
    assert status(pod, u)["app-busybox"] == "1"
    assert "can't create /data/ro-test: Read-only file system" in logs(pod, u)
    assert not (data / "ro-test").exists()


def test_empty_volume_shared_by_two_apps(pod, flavor):
    r, u = run_pod(pod, flavor, "--name", "writer", "--mount", "volume=scratch,target=/scratch",
                   *sh("echo shared > /scratch/f"), "---", BUSYBOX_ACI, "--name", "reader",
                   "--mount", "volume=scratch,target=/s", *sh("sleep 1; cat /s/f"),
                   pod_flags=["--volume=scratch,kind=empty"])
    assert r.returncode == 0, r.stderr
    assert "shared" in logs(pod, u, "reader")


def test_hostname_and_hosts(pod, flavor):
    r, u = run_pod(pod, flavor, *sh("hostname; cat /etc/hosts"),
                   pod_flags=["--hostname=myhost", "--hosts-entry=10.1.2.3=db.example"])
    assert r.returncode == 0, r.stderr
    out = logs(pod, u)
    assert out.splitlines()[0] == "myhost"
    assert "10.1.2.3" in out and "db.example" in out and "localhost" in out


@both
def test_two_apps_exit_codes_first_failure_wins(pod, flavor):
    r, u = run_pod(pod, flavor, "--name", "ok", *sh("exit 0"), "---", BUSYBOX_ACI, "--name", "bad",
                   *sh("exit 7"))
    assert r.returncode == 7, r.stderr
    st = status(pod, u)
    assert st["app-ok"] == "0" and st["app-bad"] == "7"
    out = pod.run("list", "--no-legend", "--full", check=0).stdout
    assert any(u in l and "ok" in l for l in out.splitlines())


def test_prepare_then_run_prepared_and_cat_manifest(pod, flavor):
    r = pod.run("prepare", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}", BUSYBOX_ACI,
                *sh("exit 4"), check=0)
    u = r.stdout.strip().splitlines()[-1]
    assert status(pod, u)["state"] == "prepared"
    m = json.loads(pod.run("cat-manifest", u, check=0).stdout)
    assert m["acKind"] == "PodManifest" and m["apps"][0]["app"]["exec"] == ["/bin/sh", "-c", "exit 4"]
    assert m["apps"][0]["image"]["id"].startswith("sha512-")
    # a bad flag fails before anything starts: the pod stays prepared and can be retried
    r = pod.run("run-prepared", "--net=host,bogus", u)
    assert r.returncode == 2
    assert status(pod, u)["state"] == "prepared"
    r = pod.run("run-prepared", u[:10])
    assert r.returncode == 4, r.stderr
    assert status(pod, u)["app-busybox"] == "4"
    r = pod.run("run-prepared", u)
    assert r.returncode == 4 and "not prepared" in r.stderr


@both
def test_interactive_stdin_output_and_exit_code(pod, flavor):
    # Piped stdin reaches the app whole (nothing eaten while the pod starts), its output is exactly what it
    # wrote (no echo, no \r, no boot or power-off messages), end of input is end of file.
    script = 'read x; echo "got:$x"; read y; echo "got:$y"; read z || echo eof; exit 3'
    r, u = run_pod(pod, flavor, *sh(script), pod_flags=["--interactive"], input="hello there\nsecond\n")
    assert r.returncode == 3, r.stderr
    assert r.stdout == "got:hello there\ngot:second\neof\n"
    assert status(pod, u)["app-busybox"] == "3"


@both
def test_enter_and_stop(pod, flavor):
    p, u = start_pod(pod, flavor, *sh("echo started; sleep 600"))
    try:
        st = status(pod, u)
        assert st["state"] == "running" and int(st["pid"]) > 0
        r = pod.run("enter", u, "/bin/sh", "-c", "echo inside $AC_APP_NAME; cat /proc/1/cmdline >/dev/null",
                    timeout=90)
        assert r.returncode == 0, r.stderr
        assert "inside busybox" in r.stdout
        r = pod.run("enter", u, "/bin/sh", "-c", "exit 5", timeout=90)
        assert r.returncode == 5
        r = pod.run("stop", u, timeout=90, check=0)
        assert f'"{u}"' in r.stdout
        p.wait(timeout=60)
        st = status(pod, u)
        assert st["state"] == "exited"
        assert st["app-busybox"] == str(128 + signal.SIGTERM)
        r = pod.run("stop", u, check=0)  # already stopped: not an error
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@both
def test_stop_force(pod, flavor):
    p, u = start_pod(pod, flavor, *sh("trap '' TERM; sleep 600"))
    try:
        pod.run("stop", "--force", u, timeout=90, check=0)
        p.wait(timeout=60)
        assert status(pod, u)["state"] == "exited"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_sigint_to_pod_run_then_gc_cleans(pod, flavor):
    p, u = start_pod(pod, flavor, *sh("sleep 600"))
    p.send_signal(signal.SIGINT)
    p.wait(timeout=60)
    assert status(pod, u)["state"] == "exited"
    pod.run("gc", "--grace-period=0", check=0)
    assert pod.run("status", u).returncode == 3
    assert mounts_under(pod.dir) == []
    assert all(v == [] for v in pod.state_dirs().values())


@both
def test_gc_after_run_leaves_no_mounts_and_no_dirs(pod, flavor):
    r, u = run_pod(pod, flavor, *sh("true"))
    assert r.returncode == 0
    assert mounts_under(pod.dir) == []
    pod.run("gc", "--grace-period=0", check=0)
    assert all(v == [] for v in pod.state_dirs().values())
    assert mounts_under(pod.dir) == []


def test_no_overlay_copy_mode(pod, flavor):
    r, u = run_pod(pod, flavor, *sh("echo copy > /marker; cat /marker; cat /proc/self/mountinfo"),
                   pod_flags=["--no-overlay"])
    assert r.returncode == 0, r.stderr
    out = logs(pod, u).splitlines()
    assert out[0] == "copy"
    # The app's own mount table: no overlayfs of pod's (one whose dirs are in the data dir), at / or anywhere.
    # (The data dir's file system may itself be an overlay, as in a container: that one is not pod's.)
    assert [l for l in out[1:] if l.split(" - ")[0].split()[4:5] == ["/"]], out
    assert not [l for l in out[1:] if " - overlay " in l and pod.dir in l], out
    # prepare recorded copy mode, made no overlay dirs, and the app wrote into the pod's own copy of the tree.
    pd = os.path.join(pod.dir, "pods", "run", u)
    assert open(os.path.join(pd, "rootfs-mode")).read() == "copy\n"
    assert not os.path.exists(os.path.join(pd, "overlay"))
    found = [os.path.join(d, "marker") for d, _, files in os.walk(pd) if "marker" in files]
    assert len(found) == 1 and open(found[0]).read() == "copy\n", found


def test_readonly_rootfs(pod, flavor):
    r, u = run_pod(pod, flavor, "--readonly-rootfs", *sh("touch /x"))
    assert r.returncode == 1, r.stderr  # the app's status
    assert status(pod, u)["app-busybox"] == "1"
    assert "touch: /x: Read-only file system" in logs(pod, u)


def test_prepare_failures_leave_nothing(pod, flavor, tmp_path):
    r = pod.run("run", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}", str(tmp_path / "nope.aci"))
    assert r.returncode == 3, r.stderr  # the named image does not exist
    assert r.stderr == f"pod: image file {tmp_path / 'nope.aci'} does not exist\n"
    r = pod.run("run", "--insecure-options=image", "--volume=data,kind=host,source=/does/not/exist", BUSYBOX_ACI)
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = pod.run("run", "--insecure-options=image", "--volume=data,kind=floppy", BUSYBOX_ACI)
    assert r.returncode == 2 and "kind" in r.stderr
    r = pod.run("run", "--insecure-options=image", BUSYBOX_ACI, "--mount", "volume=missing,target=/x")
    assert r.returncode == 2 and "missing" in r.stderr
    r = pod.run("run", "--insecure-options=image", BUSYBOX_ACI, "--frobnicate")
    assert r.returncode == 2
    r = pod.run("run", "--insecure-options=image", BUSYBOX_ACI, "---", BUSYBOX_ACI)
    assert r.returncode == 2 and "--name" in r.stderr
    r = pod.run("run", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}",
                f"--uuid-file-save={tmp_path / 'uuid'}", BUSYBOX_ACI, "--exec", "/no/such/binary")
    assert r.returncode == 125, r.stderr  # the pod could not be started
    why = "app busybox: /no/such/binary does not exist in the app's rootfs or is not an executable file"
    assert why in r.stderr
    assert status(pod, (tmp_path / "uuid").read_text().strip())["failure"] == why
    pod.run("gc", "--grace-period=0", check=0)
    assert all(v == [] for v in pod.state_dirs().values())
