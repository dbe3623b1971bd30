"""The shipped systemd units and cron file, and `pod install-units`."""
import os
import shutil
import stat
import subprocess

import pytest

from conftest import POD_BIN

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "Documentation", "examples")
UNITS = ["pod@.service", "pod-gc.service", "pod-gc.timer", "pod-metadata-service.socket",
         "pod-metadata-service.service"]


def analyze_verify(paths):
    """systemd-analyze verify; works without systemd as PID 1. Warnings such as
    "Failed to parse ..., ignoring" do not change its exit code, so they fail the test too."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (package systemd)")
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", *paths], capture_output=True, text=True,
                       timeout=120)
    noise = [l for l in r.stderr.splitlines()
             if any(p in os.path.basename(l.split(":")[0]) for p in ("pod@", "pod-gc"))]
    assert r.returncode == 0 and not noise, r.stderr
    return r


def installed(tmp_path, *extra):
    r = subprocess.run([POD_BIN, "install-units", "--prefix", str(tmp_path), *extra],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r


def test_install_units_writes_units_with_this_binary(tmp_path):
    r = installed(tmp_path)
    unit_dir = tmp_path / "etc" / "systemd" / "system"
    assert sorted(os.listdir(unit_dir)) == sorted(UNITS)
    assert not (tmp_path / "etc" / "cron.d").exists()
    binary = os.path.realpath(POD_BIN)
    svc = (unit_dir / "pod@.service").read_text()
    assert f"ExecStart={binary} run --uuid-file-save=" in svc
    assert "NotifyAccess=main" in svc
    assert f"ExecStop={binary} stop " in svc
    assert "Type=notify" in svc and "KillMode=mixed" in svc
    assert f"ExecStart={binary} gc " in (unit_dir / "pod-gc.service").read_text()
    assert "/usr/local/bin/pod" not in svc
    assert f"ExecStart={binary} metadata-service\n" in (unit_dir / "pod-metadata-service.service").read_text()
    assert "ListenStream=127.0.0.1:18112" in (unit_dir / "pod-metadata-service.socket").read_text()
    for u in UNITS:
        assert stat.S_IMODE(os.stat(unit_dir / u).st_mode) == 0o644
        assert str(unit_dir / u) in r.stdout


def test_install_units_cron_only_and_dirs(tmp_path):
    installed(tmp_path, "--cron", "--no-units", "--binary", "/opt/pod/bin/pod")
    cron = tmp_path / "etc" / "cron.d" / "pod-gc"  # no dot: cron skips dotted names
    line = [l for l in cron.read_text().splitlines() if l[:1].isdigit()]
    assert line == ["17 * * * * root /opt/pod/bin/pod gc --grace-period=30m 2>&1 | logger -t pod-gc"]
    assert not (tmp_path / "etc" / "systemd").exists()
    r = subprocess.run([POD_BIN, "install-units", "--binary", "relative/pod", "--prefix", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "absolute" in r.stderr


def test_installed_units_pass_systemd_analyze_verify(tmp_path):
    installed(tmp_path)
    unit_dir = tmp_path / "etc" / "systemd" / "system"
    # A template is only checked fully (ExecStart executable, specifiers) as an instance.
    shutil.copy(unit_dir / "pod@.service", unit_dir / "pod@web.service")
    analyze_verify([str(unit_dir / "pod@web.service"), str(unit_dir / "pod-gc.service"),
                    str(unit_dir / "pod-gc.timer"), str(unit_dir / "pod-metadata-service.socket"),
                    str(unit_dir / "pod-metadata-service.service")])


def test_verify_catches_a_broken_unit(tmp_path):
    """Guards the check above: verify must reject what we would ship by mistake."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (package systemd)")
    bad = tmp_path / "pod-gc.service"
    bad.write_text("[Service]\nType=oneshot\nExecStart=/nonexistent/pod gc\n")
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(bad)], capture_output=True, text=True)
    assert r.returncode != 0 and "/nonexistent/pod" in r.stderr


def test_shipped_examples_match_what_install_units_writes(tmp_path):
    installed(tmp_path, "--cron", "--binary", "/usr/local/bin/pod")
    for name in UNITS:
        with open(os.path.join(EXAMPLES, name)) as f:
            assert (tmp_path / "etc" / "systemd" / "system" / name).read_text() == f.read()
    with open(os.path.join(EXAMPLES, "pod-gc.cron")) as f:
        assert (tmp_path / "etc" / "cron.d" / "pod-gc").read_text() == f.read()


def unit_command(svc, key, instance, runtime_dir, datadir, pod_args=()):
    """argv of the unit's Exec<key>= line as systemd would run it for `instance` (without systemd)."""
    line = next(l for l in svc.splitlines() if l.startswith(key + "="))
    argv = []
    for w in line[len(key) + 1:].split():
        w = w.replace("%i", instance).replace("/run/pod", runtime_dir)
        if w == "$POD_ARGS":
            argv += list(pod_args)
        elif not argv:  # the binary install-units put in
            argv += [w, "--dir", datadir]
        else:
            argv.append(w)
    return argv


def test_the_units_start_and_stop_commands_drive_a_real_pod(pod, tmp_path):
    """What systemd does with pod@.service, done by hand: ExecStart= as a Type=notify main process with a
    NOTIFY_SOCKET, then ExecStop=; the main process must end with the pod, cleanly, nothing left behind."""
    import socket
    from runhelpers import BUSYBOX_ACI, STAGE1, flavor_skip_reason, logs, sh, status
    if flavor_skip_reason("nspawn"):
        pytest.skip(flavor_skip_reason("nspawn"))
    installed(tmp_path, "--binary", POD_BIN)
    svc = (tmp_path / "etc/systemd/system/pod@.service").read_text()
    runtime_dir = str(tmp_path / "run")
    os.makedirs(runtime_dir)  # RuntimeDirectory=pod
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(60)
    args = ["--insecure-options=image", f"--stage1-path={STAGE1['nspawn']}", BUSYBOX_ACI,
            *sh("trap 'echo got SIGTERM; exit 0' TERM; while true; do sleep 0.1; done")]
    start = unit_command(svc, "ExecStart", "web", runtime_dir, pod.dir, args)
    main = subprocess.Popen(start, env=dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify")),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "READY=1" in notify.recv(4096).decode().split("\n")  # Type=notify: started
        stop = subprocess.run(unit_command(svc, "ExecStop", "web", runtime_dir, pod.dir), capture_output=True,
                              text=True, timeout=60)
        assert stop.returncode == 0, stop.stderr
        # ExecStop returns once the pod lock is free, i.e. the main process has ended: KillMode=mixed then
        # finds nothing left to SIGKILL.
        assert main.wait(timeout=5) == 0, main.stderr.read()
    finally:
        if main.poll() is None:
            main.kill()
        notify.close()
    uuid = open(os.path.join(runtime_dir, "web.uuid")).read().strip()
    st = status(pod, uuid)
    assert st["state"] == "exited" and st["app-busybox"] == "0"
    assert "got SIGTERM" in logs(pod, uuid)
