"""pod under a real systemd (Documentation/systemd.md, "How this is tested"): a minimal Debian bookworm
(guest_rootfs.py, debootstrap, cached in /var/cache/pod-tests) with pod installed from the Debian package of
this source tree (the session fixture `debs`, shared with test_deb.py), booted under qemu with the host's
Debian cloud kernel and systemd as PID 1. The guest runs tests/functional/guest/pod-systest as a service and
writes KEY=VALUE results to its second serial port; this test asserts them.

In the guest: `systemctl start pod@t1` (nspawn) and `pod@t2` (native) reach active only after the pod's ready
mark, with the stage1 as the main process and the whole pod in the unit's cgroup (the stage1 in
<unit>/supervisor, the pod in <unit>/pod-<uuid>, where pause, stats and resume find it); machinectl lists the nspawn pod; the app's lines are in the journal once, under the unit and the pod's
fields; `systemctl stop` leaves the unit inactive with success and the pod exited 0; pod-gc.timer fires and
collects the exited pod. The test's drop-ins make the timer fire 5 s after it starts and every 15 s
(OnActiveSec=/OnUnitActiveSec=, instead of hourly; the guest starts it once a pod has stopped) and
pod-gc.service collect with --grace-period=0 (instead of 30m); everything else is the package's.

Bounded: the rootfs build by guest_rootfs.BUILD_TIMEOUT, the guest by QEMU_TIMEOUT (qemu is killed then, and in
any case when the test ends); the per-test rootfs copy and disk image are removed."""
import glob
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

import debpkg
import guest_rootfs
from conftest import BUILD

HERE = os.path.dirname(os.path.abspath(__file__))
QEMU = shutil.which("qemu-system-x86_64")
QEMU_TIMEOUT = 8 * 60
CONSOLE_COPY = os.path.join(os.path.abspath(BUILD), "systemd-guest-console.log")


def guest_kernel():
    """The host's Debian cloud kernel, its initrd and its modules (as stage1-kvm/meson.build finds it)."""
    for k in sorted(glob.glob("/boot/vmlinuz-*-cloud-amd64"), reverse=True):
        kver = os.path.basename(k)[len("vmlinuz-"):]
        initrd = f"/boot/initrd.img-{kver}"
        if os.path.exists(initrd) and os.path.isdir(f"/lib/modules/{kver}"):
            return k, initrd, kver
    return None


missing = [t for t in debpkg.TOOLS if shutil.which(t) is None]
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="building the guest's root file system needs root"),
    pytest.mark.skipif(QEMU is None, reason="qemu-system-x86_64 missing (qemu-system-x86, scripts/install-deps)"),
    pytest.mark.skipif(shutil.which("mkfs.ext4") is None, reason="mkfs.ext4 missing (e2fsprogs)"),
    pytest.mark.skipif(guest_kernel() is None, reason="no /boot/vmlinuz-*-cloud-amd64 with its initrd and modules "
                                                      "(linux-image-cloud-amd64)"),
    pytest.mark.skipif(bool(missing), reason=f"the package build needs {', '.join(missing)} (scripts/install-deps)"),
]

# t1: nspawn (registered with machined by nspawn), t2: native. Both run app.sh of a host volume.
INSTANCES = {"t1": "nspawn", "t2": "native"}
APP_SH = """#!/bin/sh
trap 'echo stopping $1; exit 0' TERM
echo hello from $1
while :; do sleep 1 & wait $!; done
"""
GC_TIMER_DROPIN = """[Timer]
OnCalendar=
RandomizedDelaySec=0
AccuracySec=1s
OnActiveSec=5s
OnUnitActiveSec=15s
"""
GC_SERVICE_DROPIN = """[Service]
ExecStart=
ExecStart=/usr/bin/pod gc --grace-period=0
"""
SYSTEST_UNIT = """[Unit]
Description=pod's functional test under systemd (tests/functional/test_systemd_guest.py)
After=basic.target dbus.service

[Service]
Type=exec
ExecStart=/usr/local/sbin/pod-systest
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
"""


def deb_field(deb, field):
    return subprocess.run(["dpkg-deb", "-f", deb, field], capture_output=True, text=True, check=True).stdout


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def prepare_root(root, debs, kver):
    """The per-test guest: the cached rootfs plus the kernel's modules, pod installed with dpkg, the test's
    pods, drop-ins and service."""
    shutil.copytree(f"/lib/modules/{kver}", os.path.join(root, "lib/modules", kver), symlinks=True)
    pkgs = [debs["libpod0"], debs["pod"]]
    for p in pkgs:
        shutil.copy(p, os.path.join(root, "tmp"))
    r = subprocess.run(["chroot", root, "dpkg", "-i", *("/tmp/" + os.path.basename(p) for p in pkgs)],
                       capture_output=True, text=True, timeout=300,
                       env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"})
    assert r.returncode == 0, r.stdout + r.stderr
    for p in pkgs:
        os.unlink(os.path.join(root, "tmp", os.path.basename(p)))
    write(os.path.join(root, "etc/machine-id"), uuid.uuid4().hex + "\n", 0o444)  # not a first boot
    write(os.path.join(root, "etc/hostname"), "podguest\n")
    write(os.path.join(root, "etc/fstab"), "/dev/vda / ext4 rw,errors=remount-ro 0 1\n")
    write(os.path.join(root, "etc/pod/app/app.sh"), APP_SH, 0o755)
    for name, flavor in INSTANCES.items():
        write(os.path.join(root, f"etc/pod/{name}.env"),
              f"POD_ARGS=--insecure-options=image --stage1-flavor={flavor} --net=host "
              f"--volume=app,kind=host,source=/etc/pod/app /usr/lib/pod/examples/busybox.aci --name=app "
              f"--mount=volume=app,target=/app --exec=/bin/sh -- /app/app.sh {name}\n")
    write(os.path.join(root, "etc/systemd/system/pod-gc.timer.d/test.conf"), GC_TIMER_DROPIN)
    write(os.path.join(root, "etc/systemd/system/pod-gc.service.d/test.conf"), GC_SERVICE_DROPIN)
    write(os.path.join(root, "etc/systemd/system/pod-systest.service"), SYSTEST_UNIT)
    os.makedirs(os.path.join(root, "etc/systemd/system/multi-user.target.wants"), exist_ok=True)
    os.symlink("/etc/systemd/system/pod-systest.service",
               os.path.join(root, "etc/systemd/system/multi-user.target.wants/pod-systest.service"))
    shutil.copy(os.path.join(HERE, "guest", "pod-systest"), os.path.join(root, "usr/local/sbin/pod-systest"))


def accel():
    """KVM only where the kvm stage1's probe found that a KVM guest boots on this boot of the machine (its
    cached verdict, Documentation/stage1-kvm.md): /dev/kvm opening is not enough (nested PVM opens it and then
    fails qemu's MSR setup). Else TCG, and the reason."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot_id = f.read().strip()
        with open(os.environ.get("POD_KVM_PROBE_CACHE", "/run/pod/stage1-kvm-accel")) as f:
            words = f.read().split(maxsplit=2)
        if words[:2] == [boot_id, "kvm"]:
            return ["-accel", "kvm", "-cpu", "host"], "kvm (the kvm stage1's probe)"
        return ["-accel", "tcg", "-cpu", "max"], "tcg: " + (words[2].strip() if len(words) > 2 else "")
    except (OSError, IndexError):
        return ["-accel", "tcg", "-cpu", "max"], "tcg: the kvm stage1 has not probed KVM on this boot"


def boot(kernel, initrd, image, console, results):
    """Boots the guest and waits for it to power off (bounded); returns qemu's exit code and the seconds."""
    acc, why = accel()
    print("accelerator:", why)
    cmd = [QEMU, *acc, "-m", "1536", "-smp", "2", "-nodefaults", "-display", "none",
           "-no-reboot", "-kernel", kernel, "-initrd", initrd,
           "-append", "root=/dev/vda rw console=ttyS0 panic=-1 net.ifnames=0 systemd.show_status=1",
           "-drive", f"file={image},format=raw,if=virtio,cache=unsafe",
           "-serial", f"file:{console}", "-serial", f"file:{results}"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=QEMU_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        return None, time.monotonic() - t0, out.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, time.monotonic() - t0, out.decode(errors="replace")


def read_results(path):
    res = {}
    with open(path, errors="replace") as f:
        for line in f.read().replace("\r", "").splitlines():
            k, sep, v = line.partition("=")
            if sep:
                res[k] = v
    return res


@pytest.fixture(scope="module")
def guest(debs):
    kernel, initrd, kver = guest_kernel()
    packages = guest_rootfs.package_list(deb_field(debs["pod"], "Depends") + "," +
                                         deb_field(debs["libpod0"], "Depends"), debpkg.PACKAGES)
    tmp = tempfile.mkdtemp(prefix="pod-sysguest-", dir="/var/tmp")
    try:
        t0 = time.monotonic()
        with open(os.path.join(tmp, "debootstrap.log"), "w") as log:
            try:
                tarball = guest_rootfs.ensure(packages, log)
            except guest_rootfs.Unavailable as e:
                pytest.skip(str(e))
        t_cache = time.monotonic() - t0
        root = os.path.join(tmp, "root")
        os.mkdir(root)
        guest_rootfs.extract(tarball, root)
        prepare_root(root, debs, kver)
        image = os.path.join(tmp, "root.img")
        with open(image, "wb") as f:
            f.truncate(4 << 30)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "podguest", "-d", root, image], check=True,
                       capture_output=True, timeout=300)
        shutil.rmtree(root)
        t_image = time.monotonic() - t0 - t_cache
        console, results = os.path.join(tmp, "console.log"), os.path.join(tmp, "results.txt")
        rc, secs, out = boot(kernel, initrd, image, console, results)
        with open(console, errors="replace") as f:
            log = f.read()
        shutil.copy(console, CONSOLE_COPY)
        res = read_results(results)
        print(f"rootfs cache {t_cache:.0f} s, image {t_image:.0f} s, guest {secs:.0f} s")
        assert rc is not None, f"the guest did not power off within {QEMU_TIMEOUT} s: {res}\n{log[-4000:]}"
        assert (rc, res.get("DONE")) == (0, "1"), f"qemu {rc}: {out}\n{res}\n{log[-4000:]}"
        yield res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def results_of(guest, inst):
    """The guest's results for one instance, without the "tN." prefix."""
    return {k[len(inst) + 1:]: v for k, v in guest.items() if k.startswith(inst + ".")}


def test_guest_boots_systemd_with_the_package(guest):
    assert guest["PID1"] == "systemd"
    assert (guest["SYSTEM"], guest["FAILED_UNITS"]) == ("running", "")
    # The package enabled and started the timer (dh_installsystemd), nothing of the test did.
    assert guest["GC_TIMER"] == "enabled active"


@pytest.mark.parametrize("inst", sorted(INSTANCES))
def test_start_is_active_only_after_ready(guest, inst):
    g = results_of(guest, inst)
    assert g["START_RC"] == "0", g
    assert g["START_STATES"] in ("activating,active", "inactive,activating,active"), g
    assert g["ORDER"] == "start<ready<=active", g
    assert g["STATUS_TEXT"] == "pod started", g
    # The unit's main process is the stage1 (pod run execs it); every process of the app is in the unit.
    assert g["MAIN_COMM"] == "run", g  # the run entrypoint of either flavour (nspawn is its child)
    assert int(g["APP_PROCS"]) >= 1, g


@pytest.mark.parametrize("inst", sorted(INSTANCES))
def test_the_whole_pod_is_in_the_units_cgroup(guest, inst):
    g = results_of(guest, inst)
    assert int(g["APP_PROCS"]) >= 1, g
    assert g["APP_PROCS_OUTSIDE_UNIT"] == "0", g


@pytest.mark.parametrize("inst", sorted(INSTANCES))
def test_pod_cgroups_are_below_the_unit(guest, inst):
    g = results_of(guest, inst)
    # The stage1 (the main process) in <unit>/supervisor, the pod in <unit>/pod-<uuid>, cgroupplaces.hpp: the
    # native init in the pod's cgroup or its pod-init leaf, nspawn's payload (the init) in a cgroup of
    # nspawn's beneath it. pause, stats and resume find them there.
    assert g["MAIN_CGROUP"] == "supervisor", g
    assert g["INIT_CGROUP"] in {"t1": ("pod-UUID", "pod-UUID/payload"),
                                "t2": ("pod-UUID", "pod-UUID/pod-init")}[inst], g
    assert g["PAUSE"] == "0 paused 1", g
    stats = json.loads(g["STATS_POD"])
    assert stats["source"] == "cgroup" and stats["pids"] >= 2 and stats["cpuNs"] > 0, g
    assert g["RESUME"] == "0 running", g
    # Stopped and collected: no cgroup of the pod is left anywhere (systemd removed the unit's, gc tolerates it).
    assert g["POD_CGROUPS_AFTER_GC"] == "0", g


def test_nspawn_pod_is_a_machine(guest):
    assert guest["t1.MACHINES"] == "pod-UUID container systemd-nspawn", guest
    assert guest["t1.MACHINE_UNIT"] == "pod@t1.service", guest
    assert guest["t1.MACHINE_LEADER_IN_UNIT"] == "yes", guest
    # The native flavour does not register (Documentation/systemd.md claims machined for nspawn and kvm).
    assert guest["t2.MACHINES"] == "", guest


@pytest.mark.parametrize("inst", sorted(INSTANCES))
def test_app_output_is_in_the_journal_once(guest, inst):
    g = results_of(guest, inst)
    assert (g["JOURNAL_UNIT"], g["JOURNAL_POD_UUID"], g["JOURNAL_APP"], g["JOURNAL_TAG"]) == ("1", "1", "app", "1"), g
    assert g["JOURNAL_STOP_LINE"] == "1", g


@pytest.mark.parametrize("inst", sorted(INSTANCES))
def test_stop_is_clean(guest, inst):
    g = results_of(guest, inst)
    assert g["STOP_RC"] == "0", g
    assert g["STOP_SECONDS_LE_20"] == "yes", g
    # inactive, Result=success, the main process exited with the pod's exit status 0.
    assert g["STOPPED"] == "inactive success 0", g
    assert g["POD_STATUS"] == "state=exited app-app=0", g
    assert (g["LEFT_IN_CGROUP"], g["MACHINES_AFTER"]) == ("0", "0"), g


@pytest.mark.parametrize("inst", sorted(INSTANCES))
def test_gc_timer_collects_the_exited_pod(guest, inst):
    g = results_of(guest, inst)
    # Collected by a pod-gc.service run that started after the stop and succeeded; the store is empty.
    assert (g["GC_COLLECTED"], g["GC_RAN_AFTER_STOP"], g["GC_RESULT"], g["POD_LIST"]) == \
        ("yes", "yes", "success 0", "[]"), g
