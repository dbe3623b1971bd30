"""Stage1 flavours and options come from the stage1, not from stage0: --stage1-flavor resolves through
stage1.json (overridable), --stage1-opt is checked against the options the stage1 image declares."""
import json
import os

from conftest import BUILD
from runhelpers import BUSYBOX_ACI, STAGE1

KVM_MANIFEST = os.path.join(BUILD, "stage1-kvm", "image", "manifest")


def prepare(pod, *flags, env=None):
    return pod.run("prepare", "--insecure-options=image", *flags, BUSYBOX_ACI, "--exec", "/bin/true", env=env)


def test_unknown_option_is_a_usage_error_listing_what_the_stage1_takes(pod):
    r = prepare(pod, f"--stage1-path={STAGE1['kvm']}", "--stage1-opt", "acel=tcg")
    assert r.returncode == 2, r.stderr
    assert "--stage1-opt acel: stage1 pod/stage1-kvm has no such option (it takes hypervisor, accel, cpus, memory)" \
        in r.stderr
    r = prepare(pod, f"--stage1-path={STAGE1['nspawn']}", "--stage1-opt", "cpus=2")
    assert r.returncode == 2 and "has no such option (it takes none)" in r.stderr, r.stderr
    assert os.listdir(os.path.join(pod.dir, "pods", "prepare")) == []  # refused before a pod existed


def test_bad_values_are_refused_with_what_the_option_takes(pod):
    for opt, why in (("accel=hvf", "takes one of auto, kvm, tcg"), ("cpus=0", "takes a whole number from 1 to 64"),
                     ("cpus=two", "takes a whole number from 1 to 64"), ("memory=lots", "takes a size in bytes")):
        r = prepare(pod, f"--stage1-path={STAGE1['kvm']}", "--stage1-opt", opt)
        assert r.returncode == 2, (opt, r.stderr)
        assert why in r.stderr, (opt, r.stderr)
    r = prepare(pod, f"--stage1-path={STAGE1['kvm']}", "--stage1-opt", "noequals")
    assert r.returncode == 2 and "expected NAME=VALUE" in r.stderr, r.stderr


def test_valid_options_land_in_runtime_json_untouched(pod):
    r = prepare(pod, f"--stage1-path={STAGE1['kvm']}", "--stage1-opt", "accel=tcg", "--stage1-opt", "memory=256Mi")
    assert r.returncode == 0, r.stderr
    uuid = r.stdout.strip()
    with open(os.path.join(pod.dir, "pods", "prepared", uuid, "runtime.json")) as f:
        assert json.load(f)["stage1Options"] == {"accel": "tcg", "memory": "256Mi"}


def test_the_kvm_image_declares_its_options():
    with open(KVM_MANIFEST) as f:
        ann = {a["name"]: a["value"] for a in json.load(f)["annotations"]}
    names = [o["name"] for o in json.loads(ann["pod/stage1/options"])]
    assert names == ["hypervisor", "accel", "cpus", "memory"]


def test_flavor_names_resolve_through_stage1_json(pod, tmp_path):
    r = prepare(pod, "--stage1-flavor=warp")
    assert r.returncode == 2, r.stderr
    assert 'unknown stage1 flavor "warp" (known: kvm, native, nspawn; from ' in r.stderr, r.stderr
    # A system file adds a flavour name and changes the default; relative paths are relative to the file.
    conf = tmp_path / "stage1.json"
    os.symlink(STAGE1["nspawn"], tmp_path / "mine.aci")
    conf.write_text(json.dumps({"defaultFlavor": "mine", "flavors": {"mine": "mine.aci"}}))
    env = {"POD_STAGE1_CONFIG": str(conf)}
    for flags in ((), ("--stage1-flavor=mine",)):
        r = prepare(pod, *flags, env=env)
        assert r.returncode == 0, r.stderr
        st = json.loads(pod.run("status", "--format=json", r.stdout.strip(), check=0).stdout)
        assert st["flavor"] == "nspawn" and st["state"] == "prepared", st
    conf.write_text('{"defaultFlavor": 3}')
    r = prepare(pod, env=env)
    assert r.returncode == 1 and f"{conf}.defaultFlavor: must be a string" in r.stderr, r.stderr
