"""appc event handlers (image manifest app.eventHandlers) run by the pod init: pre-start exits before the app's
exec, post-stop runs after the app exited or was stopped, both as the app (its rootfs, user, environment,
working directory); a failing pre-start fails the app with its output in `pod status`."""
import json
import os
import subprocess
import time

from acis import busybox_variant
from runhelpers import BUSYBOX_ACI, STAGE1, both, flavor, status  # noqa: F401 (flavor is a fixture)

# Each phase appends "<phase> <uptime seconds> <uid> <cwd> <AC_APP_NAME>" to /out/trace.
TRACE = 'echo "$0 $(cut -d" " -f1 /proc/uptime) $(id -u) $(pwd) $AC_APP_NAME" >> /out/trace'


def handler(name, script, phase):
    return {"name": name, "exec": ["/bin/sh", "-c", script, phase]}


def handlers_image(tmp_path, pre=None, post=None, name="example.com/busybox-handlers"):
    hs = []
    if pre is not None:
        hs.append(handler("pre-start", pre, "pre-start"))
    if post is not None:
        hs.append(handler("post-stop", post, "post-stop"))
    return busybox_variant(str(tmp_path / "handlers.aci"), name,
                           app={"eventHandlers": hs, "user": "1000", "group": "1000", "workingDirectory": "/tmp",
                                "environment": [{"name": "PATH", "value": "/bin"}]},
                           extra_files={"tmp/.keep": b""})


def out_dir(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    os.chmod(d, 0o777)
    return d


def shared_trace(d):
    (d / "trace").write_text("")
    os.chmod(d / "trace", 0o666)  # apps of different users append to it


def run(pod, flavor, tmp_path, image, script, *flags, timeout=180):
    uuid_file = tmp_path / "uuid"
    r = pod.run("run", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}", f"--uuid-file-save={uuid_file}",
                f"--volume=out,kind=host,source={tmp_path / 'out'}", *flags, image, "--name=web",
                "--mount", "volume=out,target=/out", "--exec", "/bin/sh", "--", "-c", script, "main",
                timeout=timeout)
    return r, uuid_file.read_text().strip() if uuid_file.exists() else None


def trace(d):
    return [l.split() for l in (d / "trace").read_text().splitlines()]


@both
def test_handlers_run_in_order_as_the_app(pod, flavor, tmp_path):
    out = out_dir(tmp_path)
    image = handlers_image(tmp_path, pre=TRACE + "; sleep 0.3; echo pre-start-end >> /out/trace",
                           post=TRACE)
    r, u = run(pod, flavor, tmp_path, image, TRACE + "; exit 3")
    assert r.returncode == 3, r.stderr
    t = trace(out)
    assert [l[0] for l in t] == ["pre-start", "pre-start-end", "main", "post-stop"]
    # the app, its user, working directory and name, for the handlers as for the app
    for l in (t[0], t[2], t[3]):
        assert l[2:] == ["1000", "/tmp", "web"], l
    assert float(t[0][1]) + 0.25 <= float(t[2][1]) <= float(t[3][1])  # the app waited for its pre-start
    st = status(pod, u)
    assert st["app-web"] == "3" and st["app-web-pre-start"] == "0" and st["app-web-post-stop"] == "0"
    j = json.loads(pod.run("status", "--format=json", u, check=0).stdout)
    app = j["apps"][0]
    assert app["exitCode"] == 3
    assert app["preStart"] == {"exitCode": 0, "timedOut": False, "output": ""}
    assert app["postStop"]["exitCode"] == 0


@both
def test_failing_pre_start_fails_the_app_with_its_output(pod, flavor, tmp_path):
    out = out_dir(tmp_path)
    image = handlers_image(tmp_path, pre="echo no database here >&2; exit 7", post=TRACE)
    r, u = run(pod, flavor, tmp_path, image, TRACE)
    assert r.returncode == 7, r.stderr
    assert not (out / "trace").exists()  # neither the app nor its post-stop ran
    st = status(pod, u)
    assert st["app-web"] == "7" and st["app-web-pre-start"] == "7"
    assert st["app-web-pre-start-output"] == "no database here\\n"
    assert "app-web-post-stop" not in st


def test_pre_start_of_one_app_does_not_hold_back_another(pod, flavor, tmp_path):
    out = out_dir(tmp_path)
    shared_trace(out)
    image = handlers_image(tmp_path, pre="sleep 1; " + TRACE)
    uuid_file = tmp_path / "uuid"
    r = pod.run("run", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}", f"--uuid-file-save={uuid_file}",
                f"--volume=out,kind=host,source={out}", image, "--name=slow", "--mount", "volume=out,target=/out",
                "--exec", "/bin/sh", "--", "-c", TRACE, "main-slow", "---",
                BUSYBOX_ACI, "--name=fast", "--mount", "volume=out,target=/out",
                "--exec", "/bin/sh", "--", "-c", TRACE, "main-fast", timeout=180)
    assert r.returncode == 0, r.stderr
    # the app without handlers ran while the other one's pre-start slept
    assert [l[0] for l in trace(out)] == ["main-fast", "pre-start", "main-slow"]


def test_post_stop_runs_after_the_app_is_stopped(pod, flavor, tmp_path):
    out = out_dir(tmp_path)
    image = handlers_image(tmp_path, post=TRACE)
    from conftest import POD_BIN
    uuid_file = tmp_path / "uuid"
    p = subprocess.Popen([POD_BIN, "--dir", pod.dir, "run", "--insecure-options=image",
                          f"--stage1-path={STAGE1[flavor]}", f"--uuid-file-save={uuid_file}",
                          f"--volume=out,kind=host,source={out}", image, "--name=web",
                          "--mount", "volume=out,target=/out", "--exec", "/bin/sh", "--", "-c",
                          TRACE + "; exec sleep 1000", "main"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 90
        while not (out / "trace").exists():
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()
            time.sleep(0.05)
        u = uuid_file.read_text().strip()
        pod.run("stop", u, check=0, timeout=60)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert [l[0] for l in trace(out)] == ["main", "post-stop"]
    st = status(pod, u)
    assert st["app-web"] == str(128 + 15) and st["app-web-post-stop"] == "0"


def test_post_stop_is_killed_at_the_stop_timeout(pod, flavor, tmp_path):
    out_dir(tmp_path)
    image = handlers_image(tmp_path, post="echo cleaning; exec sleep 1000")
    t0 = time.monotonic()
    r, u = run(pod, flavor, tmp_path, image, "exit 0", timeout=120)
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert elapsed < 60  # the 10 s stop timeout, not the handler's 1000 s
    st = status(pod, u)
    assert st["app-web"] == "0" and st["app-web-post-stop"] == "timeout"
    assert st["app-web-post-stop-output"] == "cleaning\\n"


def test_missing_handler_executable_is_a_clear_error(pod, flavor, tmp_path):
    out_dir(tmp_path)
    image = busybox_variant(str(tmp_path / "bad.aci"), "example.com/busybox-bad-handler",
                            app={"eventHandlers": [{"name": "pre-start", "exec": ["/bin/no-such-setup"]}]})
    r, u = run(pod, flavor, tmp_path, image, "exit 0")
    assert r.returncode == 125, r.stderr  # the app never ran: the pod's own failure
    assert "pre-start event handler" in r.stderr and "/bin/no-such-setup does not exist" in r.stderr, r.stderr
