"""pod fetch / pod image * against the real binary."""
import hashlib
import json
import os
import stat
import subprocess
import tarfile

import pytest

from acis import (BUSYBOX_ACI, dir_entry, file_entry, manifest, manifest_entry, simple_aci, write_aci)


def sha512_file(path):
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return "sha512-" + h.hexdigest()


def store_entries(pod, sub):
    p = os.path.join(pod.dir, "images", sub)
    return sorted(os.listdir(p)) if os.path.isdir(p) else []


def test_fetch_busybox_example_and_list(pod):
    full = pod.run("fetch", "--insecure-options=image", "--full", BUSYBOX_ACI, check=0).stdout.strip()
    assert full == sha512_file(BUSYBOX_ACI)
    short = pod.run("fetch", "--insecure-options=image", BUSYBOX_ACI, check=0).stdout.strip()
    assert short == full[:7 + 32]
    url = "file://" + os.path.abspath(BUSYBOX_ACI)
    assert pod.run("fetch", "--insecure-options=image", url, check=0).stdout.strip() == short
    rows = pod.run("image", "list", "--no-legend", check=0).stdout.splitlines()
    assert len(rows) == 1 and rows[0].split()[0] == short and rows[0].split()[1].startswith("example.com/busybox:")
    assert pod.run("image", "list", check=0).stdout.split()[:2] == ["ID", "NAME"]
    assert full in pod.run("image", "list", "--full", check=0).stdout
    js = json.loads(pod.run("image", "list", "--format=json", check=0).stdout)
    assert js[0]["id"] == full and js[0]["name"] == "example.com/busybox"
    assert js[0]["labels"]["os"] == "linux" and js[0]["size"] == os.path.getsize(BUSYBOX_ACI)
    m = json.loads(pod.run("image", "cat-manifest", "example.com/busybox", check=0).stdout)
    assert m["app"]["exec"] == ["/bin/sh"] and m["app"]["user"] == "0"


def test_compressed_fetch_has_uncompressed_id(pod, tmp_path):
    aci = simple_aci(str(tmp_path / "t.aci"))
    want = sha512_file(aci)
    for mode, ext in (("w:gz", "gz"), ("w:bz2", "bz2"), ("w:xz", "xz")):
        c = simple_aci(str(tmp_path / f"t.aci.{ext}"), mode=mode)
        # tarfile writes the same tar bytes inside each compression.
        raw = tmp_path / f"raw.{ext}"
        subprocess.run(f"{ {'gz': 'gzip', 'bz2': 'bzip2', 'xz': 'xz'}[ext]} -dc {c} > {raw}", shell=True, check=True)
        got = pod.run("fetch", "--insecure-options=image", "--full", c, check=0).stdout.strip()
        assert got == sha512_file(str(raw))
    subprocess.run(["zstd", "-q", "-f", aci, "-o", str(tmp_path / "t.zst")], check=True)
    zst = str(tmp_path / "t.zst")
    assert pod.run("fetch", "--insecure-options=image", "--full", zst, check=0).stdout.strip() == want


def test_cat_manifest_show_setuid(pod, tmp_path):
    aci = write_aci(str(tmp_path / "s.aci"), [
        manifest_entry(), dir_entry("rootfs"), dir_entry("rootfs/bin"),
        file_entry("rootfs/bin/su", b"x", mode=0o4755), file_entry("rootfs/bin/wall", b"y", mode=0o2755),
        file_entry("rootfs/bin/ls", b"z", mode=0o755)])
    id_ = pod.run("fetch", "--insecure-options=image", aci, check=0).stdout.strip()
    out = pod.run("image", "cat-manifest", "--show-setuid", id_, check=0).stdout
    lines = [l for l in out.splitlines() if l.startswith(("setuid", "setgid"))]
    assert lines == ["setuid 4755 /bin/su", "setgid 2755 /bin/wall"]
    # modes survive extraction
    d = tmp_path / "x"
    pod.run("image", "extract", id_, str(d), check=0)
    assert stat.S_IMODE(os.stat(d / "rootfs/bin/su").st_mode) == 0o4755
    assert os.stat(d / "rootfs/bin/su").st_mtime == 1700000000


def test_export_extract_render(pod, tmp_path):
    id_ = pod.run("fetch", "--insecure-options=image", "--full", BUSYBOX_ACI, check=0).stdout.strip()
    out = tmp_path / "e.aci"
    pod.run("image", "export", id_[:20], str(out), check=0)
    assert sha512_file(str(out)) == id_
    r = pod.run("image", "export", id_, str(out))
    assert r.returncode == 1 and r.stderr == f"pod: {out} exists; use --overwrite to replace it\n"
    pod.run("image", "export", "--overwrite", id_, str(out), check=0)
    ex = tmp_path / "ex"
    pod.run("image", "extract", id_, str(ex), check=0)
    assert sorted(os.listdir(ex)) == ["manifest", "rootfs"]
    assert os.path.islink(ex / "rootfs/bin/sh") and os.readlink(ex / "rootfs/bin/sh") == "busybox"
    ro = tmp_path / "ro"
    pod.run("image", "extract", "--rootfs-only", id_, str(ro), check=0)
    assert os.path.isfile(ro / "bin/busybox") and not os.path.exists(ro / "manifest")
    r = pod.run("image", "extract", id_, str(ro))
    assert r.returncode == 1 and r.stderr == f"pod: {ro} is not empty; use --overwrite to replace its contents\n"
    rd = tmp_path / "rd"
    pod.run("image", "render", "example.com/busybox", str(rd), check=0)
    assert json.load(open(rd / "manifest"))["name"] == "example.com/busybox"
    assert os.path.isfile(rd / "rootfs/etc/passwd")


def test_render_with_dependency_and_whitelist(pod, tmp_path):
    base = simple_aci(str(tmp_path / "b.aci"), files={"etc/passwd": b"p", "etc/shadow": b"s", "bin/x": b"base"},
                      m=manifest("example.com/base"))
    top_m = manifest("example.com/top", dependencies=[{"imageName": "example.com/base",
                                                       "labels": [{"name": "version", "value": "1.0"}]}],
                     pathWhitelist=["/etc/passwd", "/bin/x", "/app"])
    top = simple_aci(str(tmp_path / "t.aci"), files={"app": b"app", "bin/x": b"top"}, m=top_m)
    pod.run("fetch", "--insecure-options=image", top, check=0)
    r = pod.run("image", "render", "example.com/top", str(tmp_path / "fail"))
    assert r.returncode == 3 and "example.com/base" in r.stderr and "fetch" in r.stderr
    pod.run("fetch", "--insecure-options=image", base, check=0)
    d = tmp_path / "r"
    pod.run("image", "render", "--rootfs-only", "example.com/top", str(d), check=0)
    assert open(d / "bin/x").read() == "top" and open(d / "etc/passwd").read() == "p"
    assert open(d / "app").read() == "app" and not os.path.exists(d / "etc/shadow")


def test_rm_by_name_and_id(pod, tmp_path):
    a = simple_aci(str(tmp_path / "a.aci"), m=manifest("example.com/a"))
    b = simple_aci(str(tmp_path / "b.aci"), m=manifest("example.com/b"))
    ida = pod.run("fetch", "--insecure-options=image", "--full", a, check=0).stdout.strip()
    idb = pod.run("fetch", "--insecure-options=image", "--full", b, check=0).stdout.strip()
    assert len(store_entries(pod, "trees")) == 2
    r = pod.run("image", "rm", "example.com/a", idb[:15], check=0)
    assert ida in r.stdout and idb in r.stdout
    assert store_entries(pod, "blobs") == [] and store_entries(pod, "index") == []
    assert store_entries(pod, "trees") == []
    # The per-image and per-tree lock files go with their keys; the source cache's go at the next gc.
    assert not [n for n in store_entries(pod, "locks") if n.startswith(("img-", "tree-"))]
    pod.run("image", "gc", check=0)
    assert sorted(store_entries(pod, "locks")) == ["prepare", "staging"]
    r = pod.run("image", "rm", "example.com/a")
    assert r.returncode == 3 and "no image" in r.stderr
    assert pod.run("image", "cat-manifest", "sha512-0000000000").returncode == 3
    assert pod.run("image", "cat-manifest", "sha512-00").returncode == 2


def make_pod_referencing(pod, tree):
    p = os.path.join(pod.dir, "pods", "prepared", "11111111-2222-4333-8444-555555555555", "trees")
    os.makedirs(p)
    open(os.path.join(p, tree), "w").close()
    return p


def test_image_gc_keeps_trees_pods_use(pod, tmp_path):
    a = simple_aci(str(tmp_path / "a.aci"), m=manifest("example.com/a"))
    b = simple_aci(str(tmp_path / "b.aci"), m=manifest("example.com/b"))
    ida = pod.run("fetch", "--insecure-options=image", "--full", a, check=0).stdout.strip()
    idb = pod.run("fetch", "--insecure-options=image", "--full", b, check=0).stdout.strip()
    trees = store_entries(pod, "trees")
    layers = {t: open(os.path.join(pod.dir, "images", "trees", t, "layers")).read().strip() for t in trees}
    tree_a = [t for t, l in layers.items() if l == ida][0]
    make_pod_referencing(pod, tree_a)
    # within the grace period: unreferenced trees go, images stay
    out = pod.run("image", "gc", check=0).stdout
    assert store_entries(pod, "trees") == [tree_a] and "removed tree" in out
    assert len(store_entries(pod, "index")) == 2
    out = pod.run("image", "gc", "--grace-period=0s", check=0).stdout
    assert idb in out and ida not in out
    assert store_entries(pod, "blobs") == [ida]
    assert pod.run("image", "gc", "--grace-period=bogus").returncode == 2


def test_verify_quarantines_corruption(pod, tmp_path):
    a = simple_aci(str(tmp_path / "a.aci"), m=manifest("example.com/a"))
    b = simple_aci(str(tmp_path / "b.aci"), m=manifest("example.com/b"))
    ida = pod.run("fetch", "--insecure-options=image", "--full", a, check=0).stdout.strip()
    idb = pod.run("fetch", "--insecure-options=image", "--full", b, check=0).stdout.strip()
    assert pod.run("image", "verify", check=0).stdout.count("ok ") == 4
    blob = os.path.join(pod.dir, "images", "blobs", ida)
    os.chmod(blob, 0o644)
    with open(blob, "r+b") as f:
        f.seek(2000)
        f.write(b"X")
    tree_b = [t for t in store_entries(pod, "trees")
              if open(os.path.join(pod.dir, "images", "trees", t, "layers")).read().strip() == idb][0]
    with open(os.path.join(pod.dir, "images", "trees", tree_b, "rootfs", "hello"), "a") as f:
        f.write("tampered")
    r = pod.run("image", "verify")
    assert r.returncode == 1
    assert f"CORRUPT image {ida}" in r.stdout and f"CORRUPT tree {tree_b}" in r.stdout
    assert len(store_entries(pod, "quarantine")) == 3
    assert [i["id"] for i in json.loads(pod.run("image", "list", "--format=json", check=0).stdout)] == [idb]
    assert pod.run("image", "verify", check=0).stdout.count("CORRUPT") == 0


def test_image_build_validates_and_is_deterministic(pod, tmp_path):
    d = tmp_path / "img"
    (d / "rootfs" / "bin").mkdir(parents=True)
    (d / "rootfs" / "bin" / "tool").write_text("x")
    (d / "manifest").write_text(json.dumps(manifest("example.com/built")))
    o1, o2 = str(tmp_path / "1.aci"), str(tmp_path / "2.aci")
    id1 = pod.run("image", "build", "--full", "--mtime=0", str(d), o1, check=0).stdout.strip()
    os.utime(d / "rootfs" / "bin" / "tool", (5, 5))
    id2 = pod.run("image", "build", "--full", "--mtime=0", str(d), o2, check=0).stdout.strip()
    assert id1 == id2 == sha512_file(o1)
    names = tarfile.open(o1).getnames()
    assert names == ["manifest", "rootfs", "rootfs/bin", "rootfs/bin/tool"]
    assert all(m.uname == "" and m.mtime == 0 for m in tarfile.open(o1).getmembers())
    assert pod.run("fetch", "--insecure-options=image", "--full", o1, check=0).stdout.strip() == id1
    (d / "manifest").write_text(json.dumps(manifest("Bad Name")))
    r = pod.run("image", "build", str(d), str(tmp_path / "3.aci"))
    assert r.returncode == 1 and "name" in r.stderr and not os.path.exists(tmp_path / "3.aci")


def test_fetch_usage_errors(pod, tmp_path):
    assert pod.run("fetch").returncode == 2
    r = pod.run("fetch", str(tmp_path / "missing.aci"))
    assert r.returncode == 3 and "does not exist" in r.stderr
    r = pod.run("fetch", "https://127.0.0.1:1/x.aci")  # signatures are checked: nothing says no before connecting
    assert r.returncode == 1 and r.stderr.startswith("pod: GET https://127.0.0.1:1/x.aci: Failed to connect to 127.0.0.1 port 1")
    assert pod.run("fetch", "http://example.com/x.aci").returncode == 2
    assert pod.run("fetch", "--insecure-options=bogus", "x").returncode == 2
