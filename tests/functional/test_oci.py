"""OCI and docker images from layouts, oci-archive and docker-archive files (built with umoci and skopeo):
the config's mapping, whiteouts, shared layers, removal, and hostile layers."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import needs_root
from oci_helpers import EXPECTED, add_compressed_layer, add_layer, blob_path, build_layout, config_id, manifest_of
from runhelpers import STAGE1, both, flavor  # noqa: F401 (fixture)

pytestmark = [needs_root(), pytest.mark.skipif(not shutil.which("umoci") or not shutil.which("skopeo"),
                                               reason="umoci and skopeo are needed (scripts/install-deps)")]


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return build_layout(str(tmp_path_factory.mktemp("oci")))


@pytest.fixture
def own_layout(layout, tmp_path):
    """A copy of the module's layout the test may change."""
    dst = os.path.join(str(tmp_path), "layout")
    shutil.copytree(layout, dst)
    return dst


def run_image(pod, flavor, image, *args, pod_flags=()):
    return pod.run("run", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}", *pod_flags, image, *args,
                   timeout=240)


def layer_count(pod):
    return len(os.listdir(os.path.join(pod.dir, "images", "layers")))


def layer_trees(pod):
    return sorted(t for t in os.listdir(os.path.join(pod.dir, "images", "trees")) if t.startswith("layer-"))


@both
def test_layout_runs_with_its_config(pod, flavor, layout):
    r = run_image(pod, flavor, f"oci:{layout}:t1")
    assert r.returncode == 0, r.stderr
    assert [l for l in r.stdout.splitlines() if l.strip()] == EXPECTED


def test_no_overlay_gives_the_same_tree(pod, layout):
    r = run_image(pod, "nspawn", f"oci:{layout}:t1", pod_flags=("--no-overlay",))
    assert r.returncode == 0, r.stderr
    assert [l for l in r.stdout.splitlines() if l.strip()] == EXPECTED


def test_config_maps_onto_the_app(pod, layout):
    id_ = pod.run("fetch", "--full", f"oci:{layout}:t1", check=0).stdout.strip()
    assert id_ == config_id(layout, "t1")
    m = json.loads(pod.run("image", "cat-manifest", id_, check=0).stdout)
    app = m["app"]
    assert app["exec"][:2] == ["/bin/sh", "-c"]
    assert (app["user"], app["group"], app["workingDirectory"]) == ("app", "1000", "/srv/work")
    assert {"name": "FOO", "value": "bar"} in app["environment"]
    assert app["ports"] == [{"name": "8080-tcp", "protocol": "tcp", "port": 8080, "count": 1}]
    assert app["mountPoints"] == [{"name": "volume-var-lib-data", "path": "/var/lib/data"}]
    ann = {a["name"]: a["value"] for a in m["annotations"]}
    assert ann["org.opencontainers.image.title"] == "test"
    assert json.loads(ann["pod.io/oci-entrypoint"]) == ["/bin/sh"]
    assert {"name": "version", "value": "t1"} in m["labels"]


def test_exec_replaces_the_entrypoint_and_args_the_cmd(pod, layout):
    r = run_image(pod, "nspawn", f"oci:{layout}:t1", "--exec", "/bin/echo", "--", "a", "b")
    assert (r.returncode, r.stdout.strip()) == (0, "a b"), r.stderr
    r = run_image(pod, "nspawn", f"oci:{layout}:t1", "--", "-c", "echo from-args")
    assert (r.returncode, r.stdout.strip()) == (0, "from-args"), r.stderr


def test_archives_hold_the_same_image(pod, layout, tmp_path):
    oa, da = str(tmp_path / "img.oci.tar"), str(tmp_path / "img.docker.tar")
    for dest in (f"oci-archive:{oa}:t1", f"docker-archive:{da}:example.com/app:v2"):
        subprocess.run(["skopeo", "copy", f"oci:{layout}:t1", dest], check=True, capture_output=True, timeout=120)
    want = config_id(layout, "t1")
    assert pod.run("fetch", "--full", f"oci-archive:{oa}", check=0).stdout.strip() == want
    assert pod.run("fetch", "--full", f"docker-archive:{da}", check=0).stdout.strip() == want
    # One image, known by both names.
    images = json.loads(pod.run("image", "list", "--format=json", check=0).stdout)
    assert [i["id"] for i in images] == [want]
    r = run_image(pod, "nspawn", "example.com/app:v2")
    assert r.returncode == 0, r.stderr
    assert [l for l in r.stdout.splitlines() if l.strip()] == EXPECTED
    r = pod.run("fetch", f"docker-archive:{da}:example.com/app:nope")
    assert r.returncode == 3 and 'no image tagged "example.com/app:nope"' in r.stderr and "example.com/app:v2" in r.stderr


def test_layers_are_stored_once_and_removed_with_the_last_image(pod, own_layout):
    add_layer(own_layout, "t1", [("extra", b"x\n")], new_tag="t2")
    id1 = pod.run("fetch", "--full", f"oci:{own_layout}:t1", check=0).stdout.strip()
    assert (layer_count(pod), len(layer_trees(pod))) == (3, 3)
    id2 = pod.run("fetch", "--full", f"oci:{own_layout}:t2", check=0).stdout.strip()
    assert id1 != id2 and (layer_count(pod), len(layer_trees(pod))) == (4, 4)
    pod.run("image", "rm", id2, check=0)
    assert (layer_count(pod), len(layer_trees(pod))) == (3, 3)
    pod.run("image", "rm", id1, check=0)
    assert (layer_count(pod), layer_trees(pod)) == (0, [])
    assert os.listdir(os.path.join(pod.dir, "images", "blobs")) == []


def test_gc_keeps_the_layers_of_a_prepared_pod(pod, layout):
    r = pod.run("prepare", "--insecure-options=image", f"--stage1-path={STAGE1['nspawn']}", f"oci:{layout}:t1",
                check=0)
    uuid = r.stdout.strip().splitlines()[-1]
    pod.run("image", "gc", "--grace-period=0s", check=0)
    assert len(layer_trees(pod)) == 3
    assert config_id(layout, "t1") in pod.run("image", "list", "--full", check=0).stdout
    pod.run("rm", uuid, check=0)
    pod.run("image", "gc", "--grace-period=0s", check=0)
    assert (layer_count(pod), layer_trees(pod)) == (0, [])


@pytest.mark.parametrize("entries,error", [
    ([("../escape", b"x")], 'contains a ".." component'),
    ([("/abs", b"x")], "is an absolute path"),
    ([("etc/.wh..", b"")], "is a whiteout of an invalid name"),
    ([("data/x", b"x", {"SCHILY.xattr.trusted.overlay.redirect": "/etc"})], "overlayfs attribute trusted.overlay.redirect"),
])
def test_hostile_layers_are_refused(pod, own_layout, entries, error):
    add_layer(own_layout, "t1", entries, new_tag="bad")
    r = pod.run("fetch", f"oci:{own_layout}:bad")
    assert r.returncode == 1 and error in r.stderr, r.stderr
    assert json.loads(pod.run("image", "list", "--format=json", check=0).stdout) == []
    assert not [t for t in layer_trees(pod) if os.path.exists(os.path.join(pod.dir, "images", "trees", t, "rendered"))
                and "escape" in str(os.listdir(os.path.join(pod.dir, "images", "trees", t, "rootfs")))]
    pod.run("image", "gc", "--grace-period=0s", check=0)  # what the refused fetch completed goes
    assert (layer_count(pod), layer_trees(pod)) == (0, [])


def test_a_corrupt_layer_blob_is_refused(pod, own_layout):
    layer = manifest_of(own_layout, "t1")["layers"][1]["digest"]
    path = blob_path(own_layout, layer)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(20)
        b = f.read(1)
        f.seek(20)
        f.write(bytes([b[0] ^ 0xff]))
    r = pod.run("fetch", f"oci:{own_layout}:t1")
    assert r.returncode == 1 and f"blob {layer} does not match its digest" in r.stderr, r.stderr
    assert json.loads(pod.run("image", "list", "--format=json", check=0).stdout) == []


def test_layout_errors_name_the_problem(pod, layout, tmp_path):
    r = pod.run("fetch", f"oci:{layout}:nosuch")
    assert r.returncode == 3 and 'has no image tagged "nosuch" (it has: t1)' in r.stderr
    r = pod.run("fetch", f"oci:{tmp_path}/missing")
    assert r.returncode == 3 and "does not exist" in r.stderr
    r = pod.run("fetch", "--platform=linux", f"oci:{layout}:t1")
    assert r.returncode == 2 and "is not OS/ARCH" in r.stderr


def test_verify_compares_layer_trees_with_their_blobs(pod, layout):
    id_ = pod.run("fetch", "--full", f"oci:{layout}:t1", check=0).stdout.strip()
    r = pod.run("image", "verify", id_)
    assert r.returncode == 0, r.stdout + r.stderr
    trees = layer_trees(pod)
    assert all(f"tree {t}" in r.stdout for t in trees), r.stdout
    victim = next(t for t in trees if os.path.exists(os.path.join(pod.dir, "images", "trees", t, "rootfs", "bin", "busybox")))
    with open(os.path.join(pod.dir, "images", "trees", victim, "rootfs", "bin", "busybox"), "r+b") as f:
        f.write(b"X")
    r = pod.run("image", "verify", id_)
    assert r.returncode == 1 and f"tree {victim}: it differs from its blob unpacked again" in r.stdout + r.stderr
    assert victim not in layer_trees(pod)  # quarantined; the next pod makes it again from the blob
    r = run_image(pod, "nspawn", id_)
    assert r.returncode == 0 and victim in layer_trees(pod), r.stderr


@pytest.mark.parametrize("compress", ["zstd", None])
def test_zstd_and_uncompressed_layers(pod, own_layout, compress):
    add_compressed_layer(own_layout, "t1", "t3", [("data/new", b"replaced\n")], compress)
    r = run_image(pod, "nspawn", f"oci:{own_layout}:t3", "--exec", "/bin/cat", "--", "/data/new")
    assert (r.returncode, r.stdout) == (0, "replaced\n"), r.stderr


def test_more_layers_than_one_overlay_mount_takes_are_merged(pod, own_layout):
    tag = "t1"
    for i in range(40):
        add_layer(own_layout, tag, [(f"l/{i}", f"{i}\n".encode())], new_tag=f"m{i}")
        tag = f"m{i}"
    r = run_image(pod, "nspawn", f"oci:{own_layout}:{tag}", "--exec", "/bin/cat", "--", "/l/0", "/l/39", "/data/new")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "0\n39\nnew\n"
    assert "has 43 layers, more than one overlayfs mount can stack here; running it from one merged tree" in r.stderr


def test_concurrent_fetches_and_gc_neither_deadlock_nor_lose_layers(pod, own_layout, tmp_path):
    add_layer(own_layout, "t1", [("extra", b"x\n")], new_tag="t2")
    archive = str(tmp_path / "img.tar")
    subprocess.run(["skopeo", "copy", f"oci:{own_layout}:t2", f"oci-archive:{archive}:t2"], check=True,
                   capture_output=True, timeout=120)
    from conftest import POD_BIN
    cmds = [["fetch", f"oci-archive:{archive}"], ["fetch", f"oci:{own_layout}:t1"], ["fetch", f"oci:{own_layout}:t2"],
            ["image", "gc", "--grace-period=1h"], ["image", "gc", "--grace-period=1h"], ["fetch", f"oci-archive:{archive}"]]
    procs = [subprocess.Popen([POD_BIN, "--dir", pod.dir, *c], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in cmds]
    for p, c in zip(procs, cmds):
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, (c, err)
    ids = {i["id"] for i in json.loads(pod.run("image", "list", "--format=json", check=0).stdout)}
    assert ids == {config_id(own_layout, "t1"), config_id(own_layout, "t2")}
    assert layer_count(pod) == 4  # gc may have dropped layer trees (caches no pod used); never a blob
    r = pod.run("image", "verify")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_image(pod, "nspawn", config_id(own_layout, "t2"), "--exec", "/bin/cat", "--", "/extra")
    assert (r.returncode, r.stdout, len(layer_trees(pod))) == (0, "x\n", 4), r.stderr
