"""`pod config`: the layered configuration (vendor, system, the data dir's), each value with its file."""
import json
import os

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
    assert got["settings"] == {"images.maxEntries": {"value": 20, "source": system},
                               "images.maxUncompressedSize": {"value": 1000000000, "source": vendor}}
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
    assert err["message"] == f'configuration {local}: unknown key "imagez" (known: images)'


def test_the_data_dirs_layer_limits_fetches(pod, tmp_path):
    write(os.path.join(pod.dir, "pod.json"), {"images": {"maxEntries": 3}})
    r = pod.run("fetch", "--insecure-options=image", BUSYBOX_ACI, env={"POD_CONFIG": write(tmp_path / "s.json", {})})
    assert r.returncode == 1 and "more than 3 entries" in r.stderr, r.stderr
