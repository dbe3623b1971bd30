"""What the ACI import refuses besides hostile paths: corrupt gzip trailers, an ACI without rootfs/, and
images over the configured limits (--max-image-size, --max-image-entries, images.* in pod.json)."""
import gzip
import json
import os
import shutil

import pytest

from acis import manifest_entry, simple_aci, write_aci
from runhelpers import STAGE1, flavor_skip_reason


def store_is_empty(pod):
    return all(os.listdir(os.path.join(pod.dir, "images", sub)) == [] for sub in ("blobs", "index", "trees", "tmp"))


def test_gzip_with_a_bad_crc_trailer_is_refused(pod, tmp_path):
    aci = simple_aci(str(tmp_path / "a.aci.gz"), files={"f": os.urandom(100000)}, mode="w:gz")
    data = bytearray(open(aci, "rb").read())
    data[-8] ^= 0xff  # the CRC-32: every entry still inflates
    open(aci, "wb").write(bytes(data))
    r = pod.run("fetch", "--insecure-options=image", aci)
    assert r.returncode == 1, r.stderr
    assert r.stderr == (f"pod: cannot import {aci}: corrupt gzip stream: its CRC-32 trailer does not match the data "
                        "(the file is damaged)\n")
    assert store_is_empty(pod)


def test_concatenated_gzip_members_are_checked_and_accepted(pod, tmp_path):
    raw = simple_aci(str(tmp_path / "a.aci"), files={"f": os.urandom(50000)})
    tar = open(raw, "rb").read()
    two = str(tmp_path / "two.aci.gz")
    open(two, "wb").write(gzip.compress(tar[:30000]) + gzip.compress(tar[30000:]))
    want = pod.run("fetch", "--insecure-options=image", "--full", raw, check=0).stdout.strip()
    assert pod.run("fetch", "--insecure-options=image", "--full", two, check=0).stdout.strip() == want
    bad = bytearray(open(two, "rb").read())
    bad[-6] ^= 1  # the second member's CRC-32
    open(two, "wb").write(bytes(bad))
    r = pod.run("fetch", "--insecure-options=image", two)
    assert r.returncode == 1 and "corrupt gzip stream: its CRC-32 trailer does not match the data" in r.stderr


def test_aci_with_a_manifest_but_no_rootfs_is_refused(pod, tmp_path):
    aci = write_aci(str(tmp_path / "norootfs.aci"), [manifest_entry()])
    r = pod.run("fetch", "--insecure-options=image", aci)
    assert r.returncode == 1, r.stderr
    assert r.stderr == (f"pod: cannot import {aci}: invalid image: the archive has a manifest but no rootfs/ "
                        "directory; an ACI must have one\n")
    assert store_is_empty(pod)


SIZE_ERROR = ("image is over the uncompressed size limit of {n} bytes (--max-image-size, "
              "images.maxUncompressedSize in the configuration); refusing it")
ENTRIES_ERROR = ("image archive has more than {n} entries, the limit (--max-image-entries, images.maxEntries in the "
                 "configuration); refusing it")


@pytest.mark.parametrize("flag,files,mode,low,error,enough,bad", [
    ("--max-image-size", {"zeros": bytes(3 << 20)}, "w:gz", "2Mi", SIZE_ERROR.format(n=2 << 20), "4Mi", "2X"),
    ("--max-image-entries", {f"f{i}": b"x" for i in range(5)}, "w", "6", ENTRIES_ERROR.format(n=6), "7", "-1"),  # 7 entries
])
def test_limit_flags(pod, tmp_path, flag, files, mode, low, error, enough, bad):
    aci = simple_aci(str(tmp_path / "img.aci"), files=files, mode=mode)
    r = pod.run("fetch", "--insecure-options=image", f"{flag}={low}", aci)
    assert r.returncode == 1, r.stderr
    assert r.stderr == f"pod: cannot import {aci}: {error}\n"
    assert store_is_empty(pod)
    assert pod.run("fetch", "--insecure-options=image", f"{flag}={enough}", aci).returncode == 0
    assert pod.run("fetch", "--insecure-options=image", f"{flag}={bad}", aci).returncode == 2


def test_size_limit_counts_the_whole_stream_not_just_the_files(pod, tmp_path):
    """A small tar followed by megabytes of zeros (which inflate from almost nothing) is refused too."""
    aci = simple_aci(str(tmp_path / "a.aci"))
    padded = str(tmp_path / "padded.aci.gz")
    with gzip.open(padded, "wb") as f:
        f.write(open(aci, "rb").read() + bytes(5 << 20))
    r = pod.run("fetch", "--insecure-options=image", "--max-image-size=1M", padded)
    assert r.returncode == 1, r.stderr
    assert r.stderr == f"pod: cannot import {padded}: {SIZE_ERROR.format(n=1000000)}\n"
    assert store_is_empty(pod)


def test_limits_from_the_configuration_file_and_flags_override_them(pod, tmp_path):
    cfg = tmp_path / "pod.json"
    cfg.write_text(json.dumps({"images": {"maxUncompressedSize": "1Mi", "maxEntries": 1000}}))
    env = {"POD_CONFIG": str(cfg)}
    aci = simple_aci(str(tmp_path / "big.aci"), files={"f": bytes(2 << 20)})
    r = pod.run("fetch", "--insecure-options=image", aci, env=env)
    assert r.returncode == 1, r.stderr
    assert r.stderr == f"pod: cannot import {aci}: {SIZE_ERROR.format(n=1 << 20)}\n"
    assert pod.run("fetch", "--insecure-options=image", "--max-image-size=3Mi", aci, env=env).returncode == 0

    cfg.write_text(json.dumps({"images": {"maxSize": "1G"}}))
    r = pod.run("fetch", "--insecure-options=image", aci, env=env)
    assert r.returncode == 1
    assert r.stderr == (f"pod: configuration {cfg}: unknown key \"images.maxSize\" "
                        "(known: maxUncompressedSize, maxEntries)\n")
    r = pod.run("fetch", "--insecure-options=image", aci, env={"POD_CONFIG": str(tmp_path / "missing.json")})
    assert r.returncode == 1
    assert r.stderr == f"pod: configuration {tmp_path}/missing.json ($POD_CONFIG) does not exist\n"


def test_run_and_prepare_take_the_limit_flags(pod, tmp_path):
    """The app images of run/prepare are limited; the stage1 image (the operator's choice) is not."""
    reason = flavor_skip_reason("nspawn")
    if reason:
        pytest.skip(reason)
    aci = simple_aci(str(tmp_path / "big.aci"), files={"f": bytes(2 << 20)})
    for cmd in ("prepare", "run"):
        base = [cmd, "--insecure-options=image", f"--stage1-path={STAGE1['nspawn']}"]
        r = pod.run(*base, "--max-image-size=1Mi", aci)
        assert r.returncode == 1, r.stderr
        assert r.stderr == f"pod: cannot import {aci}: {SIZE_ERROR.format(n=1 << 20)}\n"
        r = pod.run(*base, "--max-image-entries=2", aci)  # manifest, rootfs, rootfs/f
        assert r.returncode == 1, r.stderr
        assert r.stderr == f"pod: cannot import {aci}: {ENTRIES_ERROR.format(n=2)}\n"
        assert pod.run(*base, "--max-image-size=lots", aci).returncode == 2
    assert all(v == [] for v in pod.state_dirs().values())
    assert len(os.listdir(os.path.join(pod.dir, "images", "index"))) == 1  # the stage1 only


@pytest.mark.skipif(not shutil.which("umoci"), reason="umoci is needed (scripts/install-deps)")
def test_oci_layers_take_the_limits(pod, tmp_path):
    """The size limit is for the whole image: what the layers below left of it bounds each layer's unpacking."""
    from oci_helpers import add_layer, umoci
    layout = str(tmp_path / "layout")
    umoci("init", "--layout", layout)
    umoci("new", "--image", f"{layout}:t")
    add_layer(layout, "t", [("a", bytes(600 << 10))])
    add_layer(layout, "t", [("b", bytes(600 << 10)), ("c", b"c")])
    src = f"oci:{layout}:t"
    r = pod.run("fetch", "--insecure-options=image", "--max-image-size=1Mi", src)
    assert r.returncode == 1, r.stderr
    assert r.stderr.endswith(f": {SIZE_ERROR.format(n=1 << 20)}\n") and "layer sha256:" in r.stderr, r.stderr
    r = pod.run("fetch", "--insecure-options=image", "--max-image-entries=1", src)
    assert r.returncode == 1, r.stderr
    assert r.stderr.endswith(f": {ENTRIES_ERROR.format(n=1)}\n"), r.stderr
    assert os.listdir(os.path.join(pod.dir, "images", "index")) == []
    # Both layers are now unpacked (the first for the earlier tries): the total is checked all the same.
    assert pod.run("fetch", "--insecure-options=image", "--max-image-size=2Mi", src).returncode == 0
    r = pod.run("fetch", "--insecure-options=image", "--max-image-size=1Mi", src)
    assert r.returncode == 0  # already stored: limits apply when importing
