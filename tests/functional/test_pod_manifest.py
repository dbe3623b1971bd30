"""pod run/prepare --pod-manifest=FILE: a given appc pod manifest (apps by image name or ID, volumes,
annotations, isolators, ports) is reified and run instead of one built from flags; bad manifests are refused
naming the field; flags it replaces are refused."""
import json
import os

import pytest

from acis import busybox_variant
from runhelpers import BUSYBOX_ACI, STAGE1, flavor, logs, status  # noqa: F401 (flavor is a fixture)


def fetch(pod, aci):
    r = pod.run("fetch", "--insecure-options=image", aci, check=0)
    return r.stdout.strip().splitlines()[-1]


def write_manifest(tmp_path, m):
    p = tmp_path / "pod.json"
    p.write_text(json.dumps(m))
    return str(p)


def pod_manifest(apps, **extra):
    m = {"acKind": "PodManifest", "acVersion": "0.8.11", "apps": apps}
    m.update(extra)
    return m


def run(pod, flavor, tmp_path, manifest_file, *flags, verb="run"):
    uuid_file = tmp_path / f"uuid-{verb}"
    r = pod.run(verb, "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}", f"--uuid-file-save={uuid_file}",
                f"--pod-manifest={manifest_file}", *flags, timeout=180)
    return r, uuid_file.read_text().strip() if uuid_file.exists() else None


def test_a_given_manifest_runs_reified(pod, flavor, tmp_path):
    image_id = fetch(pod, BUSYBOX_ACI)
    data = tmp_path / "data"
    data.mkdir()
    # an image with a mount point, named in the manifest by name (and version) only
    vol_image = busybox_variant(str(tmp_path / "vol.aci"), "example.com/busybox-vol",
                                app={"mountPoints": [{"name": "scratch", "path": "/scratch"}]},
                                manifest_extra={"labels": [{"name": "version", "value": "2.0"},
                                                           {"name": "os", "value": "linux"},
                                                           {"name": "arch", "value": "amd64"}]})
    fetch(pod, vol_image)
    m = pod_manifest([
        {"name": "writer", "image": {"id": image_id},
         "app": {"exec": ["/bin/sh", "-c", "echo $GREETING > /data/out; echo shared > /scratch/f"],
                 "user": "0", "group": "0", "environment": [{"name": "GREETING", "value": "hello-manifest"}],
                 "isolators": [{"name": "os/linux/no-new-privileges", "value": True}]},
         "mounts": [{"volume": "data", "path": "/data"}, {"volume": "scratch", "path": "/scratch"}], "annotations": [{"name": "role", "value": "writer"}]},
        {"name": "reader", "image": {"name": "example.com/busybox-vol", "labels": [{"name": "version", "value": "2.0"}]},
         "app": {"exec": ["/bin/sh", "-c", "sleep 1; cat /scratch/f"], "user": "0", "group": "0",
                 "mountPoints": [{"name": "scratch", "path": "/scratch"}]}},
    ], volumes=[{"name": "data", "kind": "host", "source": str(data)}, {"name": "scratch", "kind": "empty"}],
        annotations=[{"name": "example.com/owner", "value": "tests"}])
    r, u = run(pod, flavor, tmp_path, write_manifest(tmp_path, m))
    assert r.returncode == 0, r.stderr
    assert (data / "out").read_text() == "hello-manifest\n"
    assert "shared" in logs(pod, u, "reader")
    shown = json.loads(pod.run("cat-manifest", u, check=0).stdout)
    assert [a["name"] for a in shown["apps"]] == ["writer", "reader"]
    reader = shown["apps"][1]
    assert reader["image"]["id"].startswith("sha512-") and reader["image"]["id"] != image_id  # pinned by ID
    assert reader["mounts"] == [{"volume": "scratch", "path": "/scratch"}]
    assert shown["apps"][0]["annotations"] == [{"name": "role", "value": "writer"}]
    assert {"name": "example.com/owner", "value": "tests"} in shown["annotations"]
    assert shown["apps"][0]["app"]["isolators"] == [{"name": "os/linux/no-new-privileges", "value": True}]
    assert status(pod, u)["app-writer"] == "0"


def test_an_app_without_app_section_gets_its_images(pod, flavor, tmp_path):
    fetch(pod, BUSYBOX_ACI)
    m = pod_manifest([{"name": "sh", "image": {"name": "example.com/busybox"}}])
    r, u = run(pod, flavor, tmp_path, write_manifest(tmp_path, m), verb="prepare")
    assert r.returncode == 0, r.stderr
    shown = json.loads(pod.run("cat-manifest", u, check=0).stdout)
    assert shown["apps"][0]["app"]["exec"] == ["/bin/sh"]
    assert status(pod, u)["state"] == "prepared"


@pytest.mark.parametrize("mutate, field, message", [
    (lambda m: m.update(acKind="ImageManifest"), "acKind", ""),
    (lambda m: m.update(apps=[]), "apps", "non-empty"),
    (lambda m: m["apps"][0].update(image={}), "apps[0].image", "needs an id or a name"),
    (lambda m: m["apps"][0]["image"].update(id="md5-00"), "apps[0].image", "not an image ID"),
    (lambda m: m["apps"][0].update(name="Bad_Name"), "apps[0].name", ""),
    (lambda m: m["apps"][0].update(mounts=[{"volume": "nope", "path": "/x"}]), "apps[0].mounts[0]", ""),
    (lambda m: m.update(isolators=[{"name": "resource/memory", "value": {"limit": "1G"}}]), "isolators",
     "pod-level isolators are not supported"),
    (lambda m: m["apps"][0]["app"].update(mountPoints=[{"name": "db", "path": "/db"}]), "apps[0] (sh)",
     "mount point db (/db) has no mount"),
    (lambda m: m.update(ports=[{"name": "web", "hostPort": 8080}]), "ports[0].name", 'no app of the pod has a port named "web"'),
])
def test_bad_manifests_are_refused_naming_the_field(pod, tmp_path, mutate, field, message):
    image_id = fetch(pod, BUSYBOX_ACI)
    m = pod_manifest([{"name": "sh", "image": {"id": image_id}, "app": {"exec": ["/bin/true"], "user": "0", "group": "0"}}])
    mutate(m)
    f = write_manifest(tmp_path, m)
    r = pod.run("prepare", f"--pod-manifest={f}")
    assert r.returncode in (1, 2), r.stderr
    assert f"--pod-manifest {f}" in r.stderr and field in r.stderr and message in r.stderr, r.stderr
    assert not os.listdir(os.path.join(pod.dir, "pods", "prepared")) if os.path.isdir(
        os.path.join(pod.dir, "pods", "prepared")) else True


def test_not_json_is_refused(pod, tmp_path):
    f = tmp_path / "pod.json"
    f.write_text("{not json")
    r = pod.run("prepare", f"--pod-manifest={f}")
    assert r.returncode in (1, 2) and f"--pod-manifest {f}" in r.stderr, r.stderr


@pytest.mark.parametrize("flags, message", [
    ([BUSYBOX_ACI], "give no IMAGE"),
    (["--volume=v,kind=empty"], "--volume conflicts"),
    (["--port=web:8080"], "--port conflicts"),
])
def test_flags_it_replaces_are_refused(pod, tmp_path, flags, message):
    image_id = fetch(pod, BUSYBOX_ACI)
    f = write_manifest(tmp_path, pod_manifest([{"name": "sh", "image": {"id": image_id}}]))
    r = pod.run("prepare", f"--pod-manifest={f}", *flags)
    assert r.returncode == 2 and message in r.stderr, r.stderr
