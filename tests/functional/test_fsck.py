"""`pod fsck [--repair]`: a store damaged the ways a crash or a disk can; findings, repair, a second run clean
(Documentation/fsck.md). Exit status: 0 clean, 5 findings left, 6 every finding repaired."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid as uuidlib

import pytest

from acis import manifest, simple_aci
from conftest import Pod, needs_root
from runhelpers import mounts_under


def fsck(pod, *flags, rc, keep=()):
    """The findings by item. Empty pod cgroups are host-wide (any data dir's fsck reports the machine's
    orphans): only those in `keep` are returned, and rc is then only checked when there are none."""
    r = pod.run("fsck", "--format=json", *flags)
    j = json.loads(r.stdout)
    found = {f["item"]: f for f in j["findings"]}
    orphans = [i for i in found if i.startswith("/sys/fs/cgroup/") and i not in keep]
    if not orphans:
        assert r.returncode == rc, r.stdout + r.stderr
    assert j["exitCode"] == r.returncode and j["repair"] == ("--repair" in flags)
    return {i: f for i, f in found.items() if i not in orphans}


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def snapshot(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def damage_image_store(pod, tmp_path):
    """Two images, then: a truncated blob, a tampered tree, a stray staging dir, a torn index temp file,
    a blob without record, a stale lock file. Returns (damaged image id, intact image id, tampered tree)."""
    a = simple_aci(str(tmp_path / "a.aci"), m=manifest("example.com/a"))
    b = simple_aci(str(tmp_path / "b.aci"), m=manifest("example.com/b"))
    ida = pod.run("fetch", "--insecure-options=image", "--full", a, check=0).stdout.strip()
    idb = pod.run("fetch", "--insecure-options=image", "--full", b, check=0).stdout.strip()
    pod.run("image", "render", idb, str(tmp_path / "render-b"), check=0)
    store = os.path.join(pod.dir, "images")
    tree_b = [t for t in os.listdir(os.path.join(store, "trees"))
              if open(os.path.join(store, "trees", t, "layers")).read().strip() == idb][0]
    assert fsck(pod, rc=0) == {}
    blob = os.path.join(store, "blobs", ida)
    os.chmod(blob, 0o644)
    os.truncate(blob, os.path.getsize(blob) // 2)
    with open(os.path.join(store, "trees", tree_b, "rootfs", "hello"), "a") as f:
        f.write("bit rot")
    os.mkdir(os.path.join(store, "tmp", "0123456789abcdef"))
    with open(os.path.join(store, "index", f".{idb}.json.tmp-{dead_pid()}-42"), "w") as f:
        f.write('{"id": ')
    shutil.copy(os.path.join(store, "blobs", idb), os.path.join(store, "blobs", "sha512-" + "f" * 128))
    open(os.path.join(store, "locks", "img-sha512-" + "e" * 128), "w").close()
    return ida, idb, tree_b


def test_image_store_damage_found_repaired_then_clean(pod, tmp_path):
    ida, idb, tree_b = damage_image_store(pod, tmp_path)
    before = snapshot(pod.dir)
    found = fsck(pod, rc=5)
    assert snapshot(pod.dir) == before  # without --repair nothing changes
    want = {
        f"images/index/{ida}.json": "move its record and blob to quarantine/ (fetch it again)",
        f"images/trees/{tree_b}": "move it to quarantine/ (it is rendered again when needed)",
        "images/tmp/0123456789abcdef": "remove it",
        "images/blobs/sha512-" + "f" * 128: "remove it",
        "images/locks/img-sha512-" + "e" * 128: "remove it (unless someone holds it)",
    }
    for item, action in want.items():
        assert found[item]["action"] == action and found[item]["repairable"], found
        assert not found[item]["repaired"]
    assert "blob" in found[f"images/index/{ida}.json"]["problem"]
    assert found[f"images/trees/{tree_b}"]["problem"] == "its content hash changed"
    [tmpfile] = [i for i in found if i.startswith("images/index/.")]
    assert found[tmpfile]["problem"] == "stale temp file (its writer died)"
    assert len(found) == len(want) + 1, found

    text = pod.run("fsck")
    assert text.returncode == 5
    assert f"images: images/trees/{tree_b}: its content hash changed\n  --repair will move it to quarantine/" in text.stdout
    assert text.stdout.endswith(" findings; run `pod fsck --repair` to fix the repairable ones\n")

    repaired = fsck(pod, "--repair", rc=6)
    assert all(f["repaired"] for f in repaired.values()), repaired
    # and what repairing made stale on the way: the source record of the quarantined image
    assert sorted(set(repaired) - set(found)) == [i for i in repaired if i.startswith("images/sources/")], repaired
    assert fsck(pod, rc=0) == {}
    assert pod.run("fsck", check=0).stdout == "clean\n"
    images = [i["id"] for i in json.loads(pod.run("image", "list", "--format=json", check=0).stdout)]
    assert images == [idb]
    quarantined = sorted(os.listdir(os.path.join(pod.dir, "images", "quarantine")))
    assert [q.split(".")[0] for q in quarantined] == sorted([ida, ida, tree_b])
    # b's tree is made again from its intact image
    pod.run("image", "render", idb, str(tmp_path / "render-b2"), check=0)
    assert open(tmp_path / "render-b2" / "rootfs" / "hello").read() == open(tmp_path / "render-b" / "rootfs" / "hello").read()


def test_fsck_on_a_read_only_data_dir_reads_only_and_repair_is_refused(pod, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root (a read-only bind mount)")
    ida, _, tree_b = damage_image_store(pod, tmp_path)
    view = tempfile.mkdtemp(prefix="pod-ro-")
    subprocess.run(["mount", "--bind", "-o", "ro", pod.dir, view], check=True)
    try:
        ro = Pod(view)
        found = fsck(ro, rc=5)
        assert f"images/index/{ida}.json" in found and f"images/trees/{tree_b}" in found
        r = ro.run("fsck", "--repair")
        assert r.returncode == 1 and f"data directory {view} is not writable" in r.stderr
    finally:
        subprocess.run(["umount", view], check=True)
        os.rmdir(view)
    assert fsck(pod, "--repair", rc=6)


def cgroup2_root():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            fstype = parts[parts.index("-") + 1]
            if fstype == "cgroup2":
                return parts[4]
    return None


@needs_root()
def test_pod_store_and_host_damage_found_repaired_then_clean(pod):
    [live] = pod.fixture("running")
    live, live_pid = live.split()
    [half] = pod.fixture("prepared")
    [broken] = pod.fixture("prepared")
    [exited] = pod.fixture("exited")
    pods = os.path.join(pod.dir, "pods")
    try:
        # A move that did not finish: the pod in prepared/ and in run/.
        shutil.copytree(os.path.join(pods, "prepared", half), os.path.join(pods, "run", half), symlinks=True)
        with open(os.path.join(pods, "prepared", broken, "pod"), "w") as f:
            f.write('{"acKind": "PodManifest", "apps": [')
        # A live pod is never touched, even when its files look wrong.
        with open(os.path.join(pods, "run", live, "pod"), "w") as f:
            f.write("not json")
        os.mkdir(os.path.join(pods, "run", "not-a-pod"))
        stray = str(uuidlib.uuid4())
        os.mkdir(os.path.join(pods, stray))
        # Network namespaces bind-mounted below the data dir: one whose pod is gone, one of the live pod,
        # one of the exited pod (gc tears that one down with its pod).
        gone = str(uuidlib.uuid4())
        os.makedirs(os.path.join(pod.dir, "netns"))
        netns = {n: p for n, p in [
            ("gone", os.path.join(pod.dir, "netns", gone)),
            ("live", os.path.join(pods, "run", live, "netns")),
            ("exited", os.path.join(pods, "run", exited, "netns"))]}
        for p in netns.values():
            open(p, "w").close()
            subprocess.run(["unshare", f"--net={p}", "true"], check=True)
        cg_root = cgroup2_root()
        cg = None
        if cg_root:
            cg = os.path.join(cg_root, "pod", "pod-" + str(uuidlib.uuid4()))
            os.makedirs(cg)
            old = time.time() - 3600
            os.utime(cg, (old, old))

        keep = [cg] if cg else []
        found = fsck(pod, rc=5, keep=keep)
        want = {
            f"pods/prepared/{half}": "remove this copy (the one in run/ stays)",
            f"pods/prepared/{broken}": "move it to pods/garbage/ (pod gc deletes it)",
            "pods/run/not-a-pod": "remove it",
            f"pods/{stray}": "remove it",
            f"netns/{gone}": "unmount it and remove the file",
        }
        if cg:
            want[cg] = "remove it"
        mine = {i: f for i, f in found.items() if f["area"] != "host" or i in want}
        assert {i: f["action"] for i, f in mine.items()} == want, found
        assert "network namespace" in found[f"netns/{gone}"]["problem"]
        assert found[f"pods/prepared/{broken}"]["problem"].startswith("prepared pod cannot run: its pod manifest is malformed")

        repaired = fsck(pod, "--repair", rc=6, keep=keep)
        assert all(repaired[i]["repaired"] for i in want), repaired
        after = fsck(pod, rc=0)
        assert after == {}, after
        dirs = pod.state_dirs()
        assert dirs["prepared"] == [] and sorted(dirs["run"]) == sorted([live, half, exited])
        assert dirs["garbage"] == [broken]
        assert not os.path.exists(os.path.join(pods, stray)) and "not-a-pod" not in dirs["run"]
        assert not os.path.exists(netns["gone"])
        assert sorted(mounts_under(pod.dir)) == sorted([netns["live"], netns["exited"]])
        if cg:
            assert not os.path.exists(cg)
        assert json.loads(pod.run("status", "--format=json", live, check=0).stdout)["state"] == "running"
    finally:
        os.kill(int(live_pid), 9)
        for p in (os.path.join(pods, "run", live, "netns"), os.path.join(pods, "run", exited, "netns")):
            subprocess.run(["umount", p], capture_output=True)


@needs_root()
@pytest.mark.skipif(not shutil.which("umoci") or not shutil.which("skopeo"),
                    reason="umoci and skopeo are needed (scripts/install-deps)")
def test_oci_layer_blob_and_layer_tree_damage(pod, tmp_path):
    from oci_helpers import build_layout
    layout = build_layout(str(tmp_path / "oci"))
    id_ = pod.run("fetch", "--full", f"oci:{layout}:t1", check=0).stdout.strip()
    store = os.path.join(pod.dir, "images")
    assert fsck(pod, rc=0) == {}
    trees = sorted(t for t in os.listdir(os.path.join(store, "trees")) if t.startswith("layer-"))
    victim = next(t for t in trees if os.path.exists(os.path.join(store, "trees", t, "rootfs", "bin", "busybox")))
    with open(os.path.join(store, "trees", victim, "rootfs", "bin", "busybox"), "r+b") as f:
        f.write(b"X")
    other = next(t for t in trees if t != victim)
    layer = "sha256-" + other[len("layer-"):]
    os.chmod(os.path.join(store, "layers", layer), 0o644)
    with open(os.path.join(store, "layers", layer), "ab") as f:
        f.write(b"trailing garbage")
    found = fsck(pod, rc=5)
    assert found[f"images/trees/{victim}"]["problem"] == "it differs from its blob unpacked again"
    assert "the layer blob hashes to" in found[f"images/layers/{layer}"]["problem"]
    assert f"its layer sha256:{layer[7:]} is missing or corrupt" in found[f"images/index/{id_}.json"]["problem"]
    repaired = fsck(pod, "--repair", rc=6)
    assert all(f["repaired"] for f in repaired.values()), repaired
    assert fsck(pod, rc=0) == {}
    assert json.loads(pod.run("image", "list", "--format=json", check=0).stdout) == []
