"""Disk use of the image store (blobs kept compressed as fetched) and what happens when space runs out:
early refusal of a fetch that cannot fit, ENOSPC midway, a read-only store, a pod run that fills the disk."""
import errno
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile

import pytest

from acis import manifest_entry, dir_entry, simple_aci, _info
from conftest import needs_root
from runhelpers import BUSYBOX_ACI, STAGE1, flavor_skip_reason


class Zeros:
    """A file object of n zero bytes, without holding them in memory."""

    def __init__(self, n):
        self.left = n

    def read(self, size=-1):
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        return bytes(size)


def zeros_aci(path, size):
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as t:
        for ti, data in (manifest_entry(), dir_entry("rootfs")):
            t.addfile(ti, None if data is None else io.BytesIO(data))
        t.addfile(_info("rootfs/zeros", size=size), Zeros(size))
    return path


def disk_bytes(path):
    """What the files below path cost on disk (st_blocks, hard links once): sparse holes do not count."""
    seen, total = set(), 0
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            st = os.lstat(os.path.join(root, n))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def entries(pod, sub):
    return os.listdir(os.path.join(pod.dir, "images", sub))


def test_store_costs_the_tree_plus_the_compressed_size(pod, tmp_path):
    size = 200 << 20
    aci = zeros_aci(str(tmp_path / "zeros.aci.gz"), size)
    compressed = os.path.getsize(aci)
    with gzip.open(aci, "rb") as f:
        h = hashlib.sha512()
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    want = "sha512-" + h.hexdigest()
    assert pod.run("fetch", "--insecure-options=image", "--full", aci, check=0).stdout.strip() == want
    images = os.path.join(pod.dir, "images")
    blob = os.path.join(images, "blobs", want)
    assert os.path.getsize(blob) == compressed and open(blob, "rb").read() == open(aci, "rb").read()
    tree = disk_bytes(os.path.join(images, "trees"))
    assert tree >= size  # the tree really holds the zeros
    assert disk_bytes(images) <= tree + compressed + (1 << 20)
    # export decompresses (same ID), verify re-hashes the decompressed stream, render reads through it
    out = str(tmp_path / "out.aci")
    pod.run("image", "export", want, out, check=0)
    h = hashlib.sha512()
    with open(out, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    assert "sha512-" + h.hexdigest() == want
    assert pod.run("image", "verify", check=0).stdout.count("ok ") == 2
    dest = str(tmp_path / "x")
    pod.run("image", "extract", want, dest, check=0)
    assert os.path.getsize(os.path.join(dest, "rootfs", "zeros")) == size


def test_stores_with_uncompressed_blobs_keep_working(pod, tmp_path):
    """Blobs from before (uncompressed, hashing to their name) read the same way: by content."""
    aci = simple_aci(str(tmp_path / "a.aci"))
    id_ = pod.run("fetch", "--insecure-options=image", "--full", aci, check=0).stdout.strip()
    blob = os.path.join(pod.dir, "images", "blobs", id_)
    assert open(blob, "rb").read() == open(aci, "rb").read()
    assert "ok image" in pod.run("image", "verify", check=0).stdout
    pod.run("image", "export", id_, str(tmp_path / "out.aci"), check=0)
    assert open(str(tmp_path / "out.aci"), "rb").read() == open(aci, "rb").read()


@pytest.fixture
def small_store(pod):
    """The pod's image store on an 8 MiB tmpfs."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    images = os.path.join(pod.dir, "images")
    os.makedirs(images)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", images], check=True)
    yield images
    subprocess.run(["umount", "-l", images], capture_output=True)


def assert_nothing_left(pod):
    for sub in ("blobs", "index", "tmp", "trees", "sources"):
        assert entries(pod, sub) == [], sub


def test_fetch_that_cannot_fit_fails_early(pod, tmp_path, small_store):
    aci = simple_aci(str(tmp_path / "big.aci"), files={"random": os.urandom(10 << 20)})
    r = pod.run("fetch", "--insecure-options=image", aci)
    assert r.returncode == 1, r.stderr
    assert re.fullmatch(rf"pod: cannot import {re.escape(aci)}: not enough space in the image store "
                        rf"\({re.escape(small_store)}\): need ~21 MiB, [0-8] MiB free\n", r.stderr), r.stderr
    assert_nothing_left(pod)


@pytest.mark.skipif(not shutil.which("umoci"), reason="umoci is needed (scripts/install-deps)")
def test_oci_layer_that_cannot_fit_fails_early(pod, tmp_path, small_store):
    from oci_helpers import add_layer, manifest_of, umoci
    layout = str(tmp_path / "layout")
    umoci("init", "--layout", layout)
    umoci("new", "--image", f"{layout}:t")
    add_layer(layout, "t", [("big", os.urandom(10 << 20))])
    [layer] = manifest_of(layout, "t")["layers"]
    r = pod.run("fetch", "--insecure-options=image", f"oci:{layout}:t")
    assert r.returncode == 1, r.stderr
    assert re.search(rf"cannot fetch layer {layer['digest']}: not enough space in the image store "
                     rf"\({re.escape(small_store)}\): need ~21 MiB, [0-8] MiB free\n$", r.stderr), r.stderr
    assert_nothing_left(pod)
    assert entries(pod, "layers") == []


def test_enospc_while_extracting_removes_the_staging(pod, tmp_path, small_store):
    aci = zeros_aci(str(tmp_path / "zeros.aci.gz"), 20 << 20)  # ~20 KiB: passes the early check
    r = pod.run("fetch", "--insecure-options=image", aci)
    assert r.returncode == 1, r.stderr
    assert r.stderr == (f"pod: cannot import {aci}: no space left on device (ENOSPC) while extracting rootfs/zeros; "
                        "free some space (pod image gc) and retry\n")
    assert_nothing_left(pod)
    assert disk_bytes(small_store) < 64 << 10


def test_fetch_into_a_read_only_store_fails_clearly(pod, tmp_path, small_store):
    a = simple_aci(str(tmp_path / "a.aci"))
    pod.run("fetch", "--insecure-options=image", a, check=0)
    subprocess.run(["mount", "-o", "remount,ro", small_store], check=True)
    b = simple_aci(str(tmp_path / "b.aci"), files={"other": b"b"})
    r = pod.run("fetch", "--insecure-options=image", b)
    assert r.returncode == 1, r.stderr
    assert r.stderr == (f"pod: cannot import {b}: the image store ({small_store}) is on a read-only file system; "
                        "nothing can be written\n")
    again = pod.run("fetch", "--insecure-options=image", a)  # already stored: still answered from its source record
    assert again.returncode == 0, again.stderr


@needs_root()
@pytest.mark.parametrize("mode", ["full", "copy"])
def test_pod_run_that_fills_the_disk_leaves_no_pod(pod, tmp_path, mode):
    """full: the disk is full before the pod is created (its first file fails); copy: 1 MiB is left and
    --no-overlay copies the stage1's rootfs into the pod, which fills it midway through preparing."""
    reason = flavor_skip_reason("nspawn")
    if reason:
        pytest.skip(reason)
    # The data dir on a small tmpfs; the image store bind-mounted from the real disk so that fetching and
    # rendering succeed and only the pod's own files hit the full disk.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", pod.dir], check=True)
    disk = tmp_path / "images"
    disk.mkdir()
    os.mkdir(os.path.join(pod.dir, "images"))
    subprocess.run(["mount", "--bind", str(disk), os.path.join(pod.dir, "images")], check=True)
    pod.run("fetch", "--insecure-options=image", STAGE1["nspawn"], BUSYBOX_ACI, check=0)
    filler = os.path.join(pod.dir, "filler")
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(bytes(1 << 16))
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC
    if mode == "copy":
        os.truncate(filler, os.path.getsize(filler) - (1 << 20))
    flags = ["--no-overlay"] if mode == "copy" else []
    try:
        r = pod.run("run", "--insecure-options=image", f"--stage1-path={STAGE1['nspawn']}", *flags, BUSYBOX_ACI,
                    "--exec", "/bin/true")
        assert r.returncode == 1, r.stderr
        assert "No space left on device" in r.stderr, r.stderr
        if mode == "copy":
            assert r.stderr.startswith("pod: copying ") and "/rootfs failed: cp: " in r.stderr, r.stderr
        else:
            assert r.stderr.startswith(f"pod: cannot create pod ") and f" in {pod.dir}/pods/embryo: cannot write " \
                in r.stderr, r.stderr
        assert all(v == [] for v in pod.state_dirs().values()), pod.state_dirs()
    finally:
        os.remove(filler)
