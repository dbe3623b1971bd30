"""Hostile and broken archives are refused with a clear error; nothing is left behind."""
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time

import pytest

from conftest import POD_BIN

from acis import (device_entry, dir_entry, file_entry, hardlink_entry, manifest, manifest_entry, simple_aci,
                  symlink_entry, write_aci, _info)


@pytest.fixture(autouse=True, params=["openat2", "no-openat2"])
def openat2_mode(request, monkeypatch):
    """Every test here runs twice: with openat2 where the kernel has it, and with POD_NO_OPENAT2=1, which
    makes pod take its O_NOFOLLOW walks instead (src/util/fs.hpp)."""
    if request.param == "no-openat2":
        monkeypatch.setenv("POD_NO_OPENAT2", "1")
    else:
        monkeypatch.delenv("POD_NO_OPENAT2", raising=False)
    return request.param


def test_no_openat2_env_is_honoured(pod, tmp_path, openat2_mode):
    """Proves the mode of the tests in this file: the extraction's openat2 calls are there or gone."""
    if not shutil.which("strace"):
        pytest.skip("strace is not installed")
    aci, log = str(tmp_path / "deep.aci"), str(tmp_path / "strace.log")
    write_aci(aci, [manifest_entry(), dir_entry("rootfs"), dir_entry("rootfs/a"), file_entry("rootfs/a/f", b"x")])
    r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat2", "-o", log, POD_BIN, "--dir", pod.dir, "fetch",
                        "--insecure-options=image", aci], capture_output=True, text=True, timeout=120)
    if "ptrace" in r.stderr:
        pytest.skip(f"strace cannot trace here: {r.stderr}")
    assert r.returncode == 0, r.stderr
    calls = [l for l in open(log) if "openat2(" in l]
    if openat2_mode == "no-openat2":
        assert calls == []
    elif not any("= -1 ENOSYS" in l for l in calls):
        assert any("rootfs/a" in l and "RESOLVE_BENEATH" in l for l in calls), calls


def store_is_empty(pod):
    img = os.path.join(pod.dir, "images")
    for sub in ("blobs", "index", "trees", "tmp"):
        p = os.path.join(img, sub)
        assert not os.path.isdir(p) or os.listdir(p) == [], f"{sub} not empty: {os.listdir(p)}"


@pytest.fixture
def outside(tmp_path):
    d = tmp_path / "outside"
    d.mkdir()
    return d


def hostile_cases(outside):
    o = str(outside)
    m = manifest_entry()
    r = dir_entry("rootfs")
    return {
        "absolute": ([m, r, file_entry(o + "/pwned", b"x")], "absolute"),
        "dotdot": ([m, r, file_entry("rootfs/../../" + o.lstrip("/") + "/pwned", b"x")], ".."),
        "outside-rootfs": ([m, r, file_entry("etc/passwd", b"x")], "outside manifest and rootfs"),
        "duplicate": ([m, r, file_entry("rootfs/a", b"1"), file_entry("rootfs/./a", b"2")], "duplicate"),
        "duplicate-manifest": ([m, m, r], "duplicate manifest"),
        "symlink-escape": ([m, r, symlink_entry("rootfs/evil", o), file_entry("rootfs/evil/pwned", b"x")],
                           "symlink"),
        "hardlink-outside": ([m, r, hardlink_entry("rootfs/h", o + "/target")], "absolute"),
        "hardlink-dotdot": ([m, r, hardlink_entry("rootfs/h", "rootfs/../manifest")], ".."),
        "hardlink-manifest": ([m, r, hardlink_entry("rootfs/h", "manifest")], "outside rootfs"),
        "hardlink-forward": ([m, r, hardlink_entry("rootfs/h", "rootfs/later"), file_entry("rootfs/later", b"x")],
                             "not a regular file extracted before"),
        "device": ([m, r, device_entry("rootfs/mem", 1, 1)], "device node"),
        "no-manifest": ([r, file_entry("rootfs/a", b"x")], "no manifest"),
        "bad-manifest": ([file_entry("manifest", b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"UPPER"}'), r],
                         "name"),
        "manifest-json": ([file_entry("manifest", b"{nope"), r], "not valid JSON"),
        "huge-manifest": ([file_entry("manifest", b" " * (1 << 20) + b"{}"), r], "limit"),
        "manifest-dir": ([dir_entry("manifest"), r], "manifest is not a regular file"),
        "rootfs-file": ([m, file_entry("rootfs", b"x")], "rootfs is not a directory"),
        "bad-os": ([manifest_entry(manifest(labels=[{"name": "os", "value": "plan9"}])), r], "os/arch"),
    }


@pytest.mark.parametrize("case", sorted(hostile_cases("/x").keys()))
def test_hostile_archive_rejected(pod, tmp_path, outside, case):
    entries, msg = hostile_cases(outside)[case]
    aci = write_aci(str(tmp_path / f"{case}.aci"), entries)
    r = pod.run("fetch", "--insecure-options=image", aci)
    assert r.returncode == 1, r
    assert msg in r.stderr, r.stderr
    assert r.stderr.startswith("pod: cannot import")
    assert os.listdir(outside) == []
    store_is_empty(pod)
    assert pod.run("image", "list", "--no-legend", check=0).stdout == ""


def test_devices_allowed_with_flag(pod, tmp_path):
    aci = write_aci(str(tmp_path / "dev.aci"), [manifest_entry(), dir_entry("rootfs"), dir_entry("rootfs/dev"),
                                                 device_entry("rootfs/dev/null", 1, 3)])
    id_ = pod.run("fetch", "--insecure-options=image", "--allow-devices", aci, check=0).stdout.strip()
    d = tmp_path / "x"
    pod.run("image", "extract", "--rootfs-only", id_, str(d), check=0)
    st = os.lstat(d / "dev/null")
    assert os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3


def test_symlinks_are_kept_not_followed(pod, tmp_path, outside):
    aci = write_aci(str(tmp_path / "l.aci"), [manifest_entry(), dir_entry("rootfs"),
                                               symlink_entry("rootfs/abs", str(outside)),
                                               file_entry("rootfs/f", b"data"), hardlink_entry("rootfs/g", "rootfs/f")])
    id_ = pod.run("fetch", "--insecure-options=image", aci, check=0).stdout.strip()
    d = tmp_path / "x"
    pod.run("image", "render", "--rootfs-only", id_, str(d), check=0)
    assert os.readlink(d / "abs") == str(outside)
    assert os.stat(d / "f").st_ino == os.stat(d / "g").st_ino
    assert os.listdir(outside) == []


def test_garbage_and_truncated_archives(pod, tmp_path):
    g = tmp_path / "garbage.aci"
    g.write_bytes(os.urandom(4096))
    r = pod.run("fetch", "--insecure-options=image", str(g))
    assert r.returncode == 1 and "unknown image type" in r.stderr
    e = tmp_path / "empty.aci"
    e.write_bytes(b"")
    assert "unknown image type" in pod.run("fetch", "--insecure-options=image", str(e)).stderr
    big = simple_aci(str(tmp_path / "big.aci"), files={"blob": os.urandom(200000)})
    data = open(big, "rb").read()
    t = tmp_path / "trunc.aci"
    t.write_bytes(data[:100000])
    r = pod.run("fetch", "--insecure-options=image", str(t))
    assert r.returncode == 1 and "truncated" in r.stderr.lower(), r.stderr
    gz = simple_aci(str(tmp_path / "big.aci.gz"), files={"blob": os.urandom(200000)}, mode="w:gz")
    data = open(gz, "rb").read()
    t2 = tmp_path / "trunc.aci.gz"
    t2.write_bytes(data[:len(data) // 2])
    r = pod.run("fetch", "--insecure-options=image", str(t2))
    assert r.returncode == 1 and ("truncated" in r.stderr.lower() or "corrupt" in r.stderr.lower()), r.stderr
    store_is_empty(pod)


def big_aci(path, mib=150):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        import io
        m = json.dumps(manifest("example.com/big")).encode()
        ti = _info("manifest", size=len(m))
        t.addfile(ti, io.BytesIO(m))
        t.addfile(_info("rootfs", type=tarfile.DIRTYPE, mode=0o755))
        chunk = os.urandom(1 << 20)
        for i in range(mib // 10):
            ti = _info(f"rootfs/f{i}", size=10 << 20)
            t.addfile(ti, io.BytesIO(chunk * 10))
    return path


def test_kill_9_mid_import_leaves_no_partial_image(pod, tmp_path):
    aci = big_aci(str(tmp_path / "big.aci"))
    from conftest import POD_BIN
    p = subprocess.Popen([POD_BIN, "--dir", pod.dir, "fetch", "--insecure-options=image", aci], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    tmp = os.path.join(pod.dir, "images", "tmp")
    deadline = time.time() + 30
    while time.time() < deadline:
        if os.path.isdir(tmp) and os.listdir(tmp):
            stage = os.path.join(tmp, os.listdir(tmp)[0])
            if os.path.exists(os.path.join(stage, "blob")) and os.path.getsize(os.path.join(stage, "blob")) > (20 << 20):
                break
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert os.listdir(tmp), "the kill came too late to test anything"
    assert pod.run("image", "list", "--no-legend", check=0).stdout == ""
    store_is_empty(pod)  # the reopen removed the stale staging dir
    assert pod.run("fetch", "--insecure-options=image", aci, check=0).stdout.startswith("sha512-")


@pytest.mark.parametrize("point", ["image-staging-before-lock", "image-import-extracted", "image-import-blob",
                                   "image-import-record"])
def test_crash_points_during_import(pod, tmp_path, point):
    aci = simple_aci(str(tmp_path / "a.aci"))
    r = pod.run("fetch", "--insecure-options=image", aci, env={"POD_CRASHPOINT": point})
    assert r.returncode == -signal.SIGKILL
    listed = pod.run("image", "list", "--no-legend", check=0).stdout
    if point == "image-import-record":
        assert len(listed.splitlines()) == 1  # committed before the crash
    else:
        assert listed == ""
        store_is_empty(pod)
    id_ = pod.run("fetch", "--insecure-options=image", "--full", aci, check=0).stdout.strip()
    assert pod.run("image", "verify", check=0).stdout.count("ok") == 2
    assert os.listdir(os.path.join(pod.dir, "images", "blobs")) == [id_]


def test_parallel_fetches_of_the_same_image(pod, tmp_path):
    aci = big_aci(str(tmp_path / "p.aci"), mib=60)
    from conftest import POD_BIN
    procs = [subprocess.Popen([POD_BIN, "--dir", pod.dir, "fetch", "--insecure-options=image", "--full", aci],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    ids = {o[0].strip() for o in outs}
    assert len(ids) == 1
    assert os.listdir(os.path.join(pod.dir, "images", "blobs")) == list(ids)
    assert len(os.listdir(os.path.join(pod.dir, "images", "trees"))) == 1
    assert os.listdir(os.path.join(pod.dir, "images", "tmp")) == []


def test_parallel_fetches_of_different_images(pod, tmp_path):
    acis = [simple_aci(str(tmp_path / f"{i}.aci"), m=manifest(f"example.com/p{i}")) for i in range(4)]
    from conftest import POD_BIN
    procs = [subprocess.Popen([POD_BIN, "--dir", pod.dir, "fetch", "--insecure-options=image", a],
                              stdout=subprocess.PIPE, text=True)
             for a in acis]
    for p in procs:
        p.communicate(timeout=60)
        assert p.returncode == 0
    assert len(json.loads(pod.run("image", "list", "--format=json", check=0).stdout)) == 4


def test_a_new_staging_dir_is_not_taken_for_a_stale_one(pod, tmp_path):
    # Between its mkdir and its flock a staging dir looks like one a killed fetch left behind; a second
    # fetch (which cleans stale ones when it opens the store) must leave it alone.
    import signal
    import time
    from conftest import POD_BIN
    a, b = (simple_aci(str(tmp_path / f"{n}.aci"), m=manifest(f"example.com/{n}")) for n in ("a", "b"))
    env = dict(os.environ, POD_PAUSEPOINT="image-staging-before-lock")
    first = subprocess.Popen([POD_BIN, "--dir", pod.dir, "fetch", "--insecure-options=image", a], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while open(f"/proc/{first.pid}/stat").read().split(") ")[1][0] != "T":  # stopped at the point
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.01)
        assert len(os.listdir(os.path.join(pod.dir, "images", "tmp"))) == 1
        pod.run("fetch", "--insecure-options=image", b, check=0)
        assert len(os.listdir(os.path.join(pod.dir, "images", "tmp"))) == 1  # still there
    finally:
        first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert len(json.loads(pod.run("image", "list", "--format=json", check=0).stdout)) == 2
    assert os.listdir(os.path.join(pod.dir, "images", "tmp")) == []


@pytest.fixture
def small_fs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    d = tmp_path / "small"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(d)], check=True)
    yield d
    subprocess.run(["umount", "-l", str(d)])


def test_disk_full_leaves_nothing_behind(small_fs, tmp_path):
    from conftest import Pod
    pod = Pod(str(small_fs / "data"))
    aci = big_aci(str(tmp_path / "big.aci"), mib=30)  # blob + tree = 60 MiB > 40 MiB: refused before writing
    r = pod.run("fetch", "--insecure-options=image", aci)
    assert r.returncode == 1
    assert re.fullmatch(rf"pod: cannot import {re.escape(aci)}: not enough space in the image store "
                        rf"\({re.escape(pod.dir)}/images\): need ~61 MiB, (39|40) MiB free\n", r.stderr), r.stderr
    store_is_empty(pod)
    # ENOSPC midway (what the early check cannot foresee): test_images_space.py


def test_read_only_store_gives_clear_error(small_fs, tmp_path):
    from conftest import Pod
    pod = Pod(str(small_fs / "data"))
    aci = simple_aci(str(tmp_path / "a.aci"))
    pod.run("image", "list", check=0)
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    r = pod.run("fetch", "--insecure-options=image", aci)
    assert r.returncode == 1 and "read-only" in r.stderr.lower(), r.stderr
