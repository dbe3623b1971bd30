"""`pod config`: the layered configuration (vendor, system, the data dir's), each value with its file."""
import json
import os
import subprocess

import pytest

from conftest import POD_BIN, needs_root
from oci_helpers import build_layout, config_id
from registry_helpers import needs_registry, registry  # noqa: F401 (fixture)

from runhelpers import BUSYBOX_ACI


def write(path, doc):
    with open(path, "w") as f:
        f.write(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def test_layers_override_key_by_key_and_name_their_files(pod, tmp_path):
    vendor = write(tmp_path / "vendor.json", {"images": {"maxEntries": 10, "maxUncompressedSize": "1G"}})
    system = write(tmp_path / "system.json", {"images": {"maxEntries": 20}})
    env = {"POD_VENDOR_CONFIG": vendor, "POD_CONFIG": system}
    r = pod.run("config", "--format=json", env=env, check=0)
    got = json.loads(r.stdout)
    assert got["files"] == [vendor, system]
    assert got["settings"]["images.maxEntries"] == {"value": 20, "source": system}
    assert got["settings"]["images.maxUncompressedSize"] == {"value": 1000000000, "source": vendor}
    assert got["settings"]["paths.dataDir"] == {"value": "", "source": "default"}
    local = write(os.path.join(pod.dir, "pod.json"), {"images": {"maxUncompressedSize": 4096}})
    got = json.loads(pod.run("config", "--format=json", env=env, check=0).stdout)
    assert got["files"] == [vendor, system, local]
    assert got["settings"]["images.maxUncompressedSize"] == {"value": 4096, "source": local}
    table = pod.run("config", env=env, check=0).stdout.splitlines()
    assert table[0].split() == ["KEY", "VALUE", "SOURCE"]
    assert table[1].split() == ["images.maxUncompressedSize", "4096", local]
    assert table[2].split() == ["images.maxEntries", "20", system]


def test_defaults_without_files(pod, tmp_path):
    env = {"POD_VENDOR_CONFIG": "", "POD_CONFIG": ""}
    if os.path.exists("/etc/pod/pod.json") or os.path.exists("/usr/lib/pod/pod.json"):
        env = {"POD_VENDOR_CONFIG": write(tmp_path / "v.json", {}), "POD_CONFIG": write(tmp_path / "s.json", {})}
    got = json.loads(pod.run("config", "--format=json", env=env, check=0).stdout)
    assert got["settings"]["images.maxEntries"] == {"value": 0, "source": "default"}


def test_a_bad_layer_names_its_file_and_key(pod, tmp_path):
    system = write(tmp_path / "system.json", {})
    local = write(os.path.join(pod.dir, "pod.json"), {"images": {"maxEntries": "many"}})
    r = pod.run("config", env={"POD_CONFIG": system})
    assert (r.returncode, r.stderr) == (1, f"pod: configuration {local}: images.maxEntries must be a non-negative integer\n")
    write(local, {"imagez": {}})
    r = pod.run("config", "--format=json", env={"POD_CONFIG": system})
    err = json.loads(r.stderr)
    assert r.returncode == 1 and err["category"] == "invalid"
    assert err["message"] == f'configuration {local}: unknown key "imagez" (known: images, paths, stage1, auth, networks, trust, limits)'
    assert err["item"] == local


def test_the_data_dirs_layer_limits_fetches(pod, tmp_path):
    write(os.path.join(pod.dir, "pod.json"), {"images": {"maxEntries": 3}})
    r = pod.run("fetch", "--insecure-options=image", BUSYBOX_ACI, env={"POD_CONFIG": write(tmp_path / "s.json", {})})
    assert r.returncode == 1 and "more than 3 entries" in r.stderr, r.stderr


def test_each_section_shows_with_its_source_and_bad_values_name_file_and_key(pod, tmp_path):
    system = write(tmp_path / "system.json", {"paths": {"dataDir": "/srv/pods"}, "stage1": {"defaultFlavor": "nspawn"},
                                             "auth": {"registryAuthFile": "/etc/pod/auth.json"}})
    got = json.loads(pod.run("config", "--format=json", env={"POD_CONFIG": system}, check=0).stdout)["settings"]
    assert got["paths.dataDir"] == {"value": "/srv/pods", "source": system}
    assert got["stage1.defaultFlavor"] == {"value": "nspawn", "source": system}
    assert got["auth.registryAuthFile"] == {"value": "/etc/pod/auth.json", "source": system}
    for doc, msg in [({"paths": {"dataDir": "relative"}}, "paths.dataDir must be an absolute path (a string starting with /)"),
                     ({"paths": []}, "paths must be an object"),
                     ({"stage1": {"defaultFlavor": ""}}, "stage1.defaultFlavor must be a non-empty string"),
                     ({"stage1": {"flavour": "kvm"}}, 'unknown key "stage1.flavour" (known: defaultFlavor, options, images)'),
                     ({"auth": {"registryAuthFile": 3}}, "auth.registryAuthFile must be an absolute path (a string starting with /)")]:
        write(system, doc)
        r = pod.run("config", env={"POD_CONFIG": system})
        assert (r.returncode, r.stderr) == (1, f"pod: configuration {system}: {msg}\n"), r.stderr
    write(system, {})
    local = write(os.path.join(pod.dir, "pod.json"), {"paths": {"dataDir": "/elsewhere"}})
    r = pod.run("config", env={"POD_CONFIG": system})
    assert r.returncode == 1 and f"configuration {local}: paths.dataDir cannot be set in the data dir's own pod.json" in r.stderr


def test_paths_data_dir_is_the_default_data_dir(tmp_path):
    data = tmp_path / "data"
    system = write(tmp_path / "system.json", {"paths": {"dataDir": str(data)}})
    env = {k: v for k, v in os.environ.items() if k != "POD_DIR"}
    env["POD_CONFIG"] = system
    r = subprocess.run([POD_BIN, "version", "--format=json"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["dataDir"] == str(data), r.stderr
    r = subprocess.run([POD_BIN, "list", "--format=json"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and json.loads(r.stdout) == [] and (data / "pods" / "prepared").is_dir(), r.stderr
    r = subprocess.run([POD_BIN, "version", "--format=json"], capture_output=True, text=True,
                       env={**env, "POD_DIR": str(tmp_path / "other")})
    assert json.loads(r.stdout)["dataDir"] == str(tmp_path / "other")  # $POD_DIR (and --dir) win


def test_stage1_default_flavor_must_be_known(pod, tmp_path):
    system = write(tmp_path / "system.json", {"stage1": {"defaultFlavor": "nosuch"}})
    env = {"POD_CONFIG": system, "POD_STAGE1_PATH": "", "POD_STAGE1_FLAVOR": ""}
    r = pod.run("prepare", "--insecure-options=image", BUSYBOX_ACI, env=env)
    assert r.returncode == 1, r.stderr
    assert f'pod: configuration {system}: stage1.defaultFlavor "nosuch" is not a flavour of stage1.json (known: ' in r.stderr
    assert not os.path.exists(os.path.join(pod.dir, "pods", "prepared")) or pod.state_dirs()["prepared"] == []


@needs_root()
@needs_registry
def test_auth_registry_file_is_used_for_registry_credentials(pod, registry, tmp_path):
    reg = registry(auth=("pod", "s3cret"))
    layout = build_layout(str(tmp_path / "oci"))
    reg.push(layout, "app", "t1")
    ref = f"docker://{reg.ref('app', 't1')}"
    env = {"HOME": str(tmp_path), "REGISTRY_AUTH_FILE": "", "XDG_RUNTIME_DIR": str(tmp_path / "xdg")}
    r = pod.run("fetch", "--insecure-options=http", ref, env=env)
    assert r.returncode == 1 and "401" in r.stderr, r.stderr
    good = reg.write_auth_file(tmp_path / "good.json")
    env["POD_CONFIG"] = write(tmp_path / "system.json", {"auth": {"registryAuthFile": str(good)}})
    r = pod.run("fetch", "--full", "--insecure-options=http", ref, env=env, check=0)
    assert r.stdout.strip() == config_id(layout, "t1")
