"""The configuration's pod defaults on the real binary (Documentation/configuration.md): stage1.options,
stage1.images, networks.default and networks.configDirs, trust.insecureOptions and limits.* take effect
as their flags do, flags beat them, and bad values fail naming the file and the key."""
import json
import os
import shutil

import pytest

from acis import busybox_variant
from conftest import BUILD
from net_helpers import net_skip_reason
from runhelpers import BUSYBOX_ACI, STAGE1, flavor_skip_reason, run_pod, sh, status

UNVERIFIED = "was not signature-checked (--insecure-options=image)"
NO_STAGE1_ENV = {"POD_STAGE1_PATH": "", "POD_STAGE1_FLAVOR": ""}


def configure(pod, tmp_path, doc):
    """`doc` as the data dir's pod.json, over an empty system layer (the host's /etc/pod/pod.json left out)."""
    with open(os.path.join(pod.dir, "pod.json"), "w") as f:
        json.dump(doc, f)
    system = tmp_path / "system.json"
    system.write_text("{}")
    return {"POD_CONFIG": str(system), "POD_VENDOR_CONFIG": str(system)}, os.path.join(pod.dir, "pod.json")


def prepare(pod, env, *flags, image=BUSYBOX_ACI, insecure=True):
    args = ["prepare", *(["--insecure-options=image"] if insecure else []), *flags, image, "--exec", "/bin/true"]
    return pod.run(*args, env=env)


def prepared_file(pod, uuid, name):
    with open(os.path.join(pod.dir, "pods", "prepared", uuid, name)) as f:
        return json.load(f)


def built_flavors():
    return json.load(open(os.path.join(BUILD, "stage1.json")))["flavors"]


def test_stage1_options_are_defaults_under_the_flag_and_checked_as_it(pod, tmp_path):
    if "kvm" not in built_flavors():
        pytest.skip("the kvm flavour is not built (its stage1 declares the options)")
    env, local = configure(pod, tmp_path, {"stage1": {"options": {"accel": "tcg", "memory": "256Mi"}}})
    r = prepare(pod, env, f"--stage1-path={STAGE1['kvm']}", "--stage1-opt", "memory=512Mi", "--stage1-opt", "cpus=2")
    assert r.returncode == 0, r.stderr
    assert prepared_file(pod, r.stdout.strip(), "runtime.json")["stage1Options"] == \
        {"accel": "tcg", "cpus": "2", "memory": "512Mi"}  # the flag's memory wins, the rest adds up
    got = json.loads(pod.run("config", "--format=json", env=env, check=0).stdout)["settings"]
    assert got["stage1.options.accel"] == {"value": "tcg", "source": local}
    # An option the chosen stage1 does not declare fails as the flag does (usage, exit 2), before any pod.
    env, _ = configure(pod, tmp_path, {"stage1": {"options": ["cpus=2"]}})
    r = prepare(pod, env, f"--stage1-path={STAGE1['nspawn']}")
    assert r.returncode == 2, r.stderr
    assert "--stage1-opt cpus: stage1 " in r.stderr and "has no such option (it takes none)" in r.stderr, r.stderr
    assert os.listdir(os.path.join(pod.dir, "pods", "prepare")) == []


def test_stage1_images_points_a_flavour_at_another_image(pod, tmp_path):
    if "kvm" not in built_flavors():
        pytest.skip("the kvm flavour is not built (the test points it at the nspawn image)")
    copy = str(tmp_path / "copy-of-nspawn.aci")
    shutil.copy(STAGE1["nspawn"], copy)
    env, local = configure(pod, tmp_path, {"stage1": {"images": {"kvm": copy}}})
    env.update(NO_STAGE1_ENV)
    want = prepare(pod, env, f"--stage1-path={STAGE1['nspawn']}")
    assert want.returncode == 0, want.stderr
    nspawn_name = prepared_file(pod, want.stdout.strip(), "stage1/manifest")["name"]
    r = prepare(pod, env, "--stage1-flavor=kvm")
    assert r.returncode == 0, r.stderr
    assert prepared_file(pod, r.stdout.strip(), "stage1/manifest")["name"] == nspawn_name
    # Chosen by stage1.defaultFlavor too, and shown by pod config with its file.
    env, local = configure(pod, tmp_path, {"stage1": {"defaultFlavor": "kvm", "images": {"kvm": copy}}})
    env.update(NO_STAGE1_ENV)
    r = prepare(pod, env)
    assert r.returncode == 0, r.stderr
    assert prepared_file(pod, r.stdout.strip(), "stage1/manifest")["name"] == nspawn_name
    got = json.loads(pod.run("config", "--format=json", env=env, check=0).stdout)["settings"]
    assert got["stage1.images.kvm"] == {"value": copy, "source": local}
    # A missing file, or a flavour stage1.json does not have, fails naming the file and the key.
    before = pod.state_dirs().get("prepared", [])
    env, local = configure(pod, tmp_path, {"stage1": {"images": {"kvm": str(tmp_path / "gone.aci")}}})
    env.update(NO_STAGE1_ENV)
    r = prepare(pod, env, "--stage1-flavor=kvm")
    assert (r.returncode, r.stderr) == (
        1, f"pod: configuration {local}: stage1.images.kvm {tmp_path}/gone.aci: No such file or directory\n")
    env, local = configure(pod, tmp_path, {"stage1": {"images": {"warp": copy}}})
    r = prepare(pod, env)
    assert r.returncode == 1 and r.stderr.startswith(
        f'pod: configuration {local}: stage1.images.warp "warp" is not a flavour of stage1.json (known: '), r.stderr
    assert pod.state_dirs().get("prepared", []) == before


def test_networks_default_and_config_dirs(pod, tmp_path):
    reason = net_skip_reason()
    if reason:
        pytest.skip(reason)
    netd = tmp_path / "net.d"
    netd.mkdir()
    (netd / "10-cfgnet.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": "cfgnet",
        "plugins": [{"type": "ptp", "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.23.250.0/24"}]]}}]}))
    env, local = configure(pod, tmp_path, {"networks": {"default": "cfgnet", "configDirs": [str(netd)]}})
    r = prepare(pod, env, f"--stage1-path={STAGE1['nspawn']}")
    assert r.returncode == 0, r.stderr
    rt = prepared_file(pod, r.stdout.strip(), "runtime.json")
    assert rt["net"] == "cfgnet" and [n["name"] for n in rt["networks"]] == ["cfgnet"], rt
    r = prepare(pod, env, f"--stage1-path={STAGE1['nspawn']}", "--net=host")  # the flag wins
    assert r.returncode == 0, r.stderr
    uuid = r.stdout.strip()
    assert prepared_file(pod, uuid, "runtime.json")["net"] == "host"
    # run-prepared --net looks networks up in the same dirs.
    r = pod.run("run-prepared", "--net=cfgnet", uuid, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    rt = prepared_or_exited_runtime(pod, uuid)
    assert rt["net"] == "cfgnet" and [n["name"] for n in rt["networks"]] == ["cfgnet"], rt
    # Without configDirs the network is not found: the dirs are where networks are looked up.
    env, _ = configure(pod, tmp_path, {"networks": {"default": "cfgnet"}})
    r = prepare(pod, env, f"--stage1-path={STAGE1['nspawn']}")
    assert r.returncode == 3 and r.stderr.startswith('pod: --net: no network named "cfgnet" (known: '), r.stderr
    env, local = configure(pod, tmp_path, {"networks": {"configDirs": ["net.d"]}})
    r = pod.run("config", env=env)
    assert (r.returncode, r.stderr) == (
        1, f"pod: configuration {local}: networks.configDirs[0] must be an absolute path (a string starting with /)\n")


def test_networks_default_runs_the_pod_on_it(pod, tmp_path):
    reason = flavor_skip_reason("nspawn")
    if reason:
        pytest.skip(reason)
    env, _ = configure(pod, tmp_path, {"networks": {"default": "none"}})
    r, u = run_pod(pod, "nspawn", *sh("cat /proc/net/dev | grep -c : ; true"), env=env)
    assert r.returncode == 0, r.stderr
    assert prepared_or_exited_runtime(pod, u)["net"] == "none"


def prepared_or_exited_runtime(pod, uuid):
    for state in ("exited", "exited-garbage", "garbage", "run", "prepared"):
        p = os.path.join(pod.dir, "pods", state, uuid, "runtime.json")
        if os.path.exists(p):
            return json.load(open(p))
    raise AssertionError(f"no runtime.json for {uuid}: {pod.state_dirs()}")


def test_trust_insecure_options_lets_an_unsigned_image_in_with_a_warning(pod, tmp_path):
    empty, _ = configure(pod, tmp_path, {})
    r = pod.run("fetch", BUSYBOX_ACI, env=empty)
    assert r.returncode == 1 and r.stderr.startswith(f"pod: image {BUSYBOX_ACI} is not signed"), r.stderr
    env, local = configure(pod, tmp_path, {"trust": {"insecureOptions": "image"}})
    r = pod.run("fetch", BUSYBOX_ACI, env=env)
    assert r.returncode == 0, r.stderr
    assert (f"pod: warning: --insecure-options=image from trust.insecureOptions in {local} (no --insecure-options "
            "given): protections are off\n") in r.stderr
    assert UNVERIFIED in r.stderr, r.stderr  # and the flag's own warning for the image
    # Only pod values: a fetch relaxes nothing, and says nothing.
    pods_only, _ = configure(pod, tmp_path, {"trust": {"insecureOptions": "seccomp"}})
    r = pod.run("fetch", BUSYBOX_ACI, env=pods_only)
    assert r.returncode == 1 and r.stderr.startswith(f"pod: image {BUSYBOX_ACI} is not signed"), r.stderr
    assert "trust.insecureOptions" not in r.stderr
    env, local = configure(pod, tmp_path, {"trust": {"insecureOptions": "image"}})
    # An explicit flag replaces it: none checks signatures again.
    other = busybox_variant(str(tmp_path / "other.aci"), "example.com/unsigned-other")
    r = pod.run("fetch", "--insecure-options=none", other, env=env)
    assert r.returncode == 1 and r.stderr.startswith(f"pod: image {other} is not signed"), r.stderr
    reason = flavor_skip_reason("nspawn")
    if reason:
        pytest.skip(reason)
    r = pod.run("run", f"--stage1-path={STAGE1['nspawn']}", other, "--exec", "/bin/echo", "--", "ran", env=env)
    assert r.returncode == 0, r.stderr
    assert "ran" in r.stdout and "from trust.insecureOptions in" in r.stderr, (r.stdout, r.stderr)


def test_limits_memory_is_applied_enforced_and_shown(pod, tmp_path):
    reason = flavor_skip_reason("nspawn")
    if reason:
        pytest.skip(reason)
    env, local = configure(pod, tmp_path, {"limits": {"memory": "32M"}})
    alloc = "dd if=/dev/zero of=/dev/null bs=200M count=1 && echo allocated"
    r, u = run_pod(pod, "nspawn", *sh(alloc), env=env)
    assert r.returncode == 137, r.stderr  # enforced as --memory=32M is (test_isolation.py)
    st = status(pod, u)
    assert st["app-busybox"] == "137" and st["app-busybox-oom-killed"] == "true"
    assert st["app-busybox-isolator"] == 'resource/memory {"limit":"32M"}'
    app = json.loads(pod.run("status", "--format=json", u, check=0).stdout)["apps"][0]
    assert app["isolators"] == [{"name": "resource/memory", "value": {"limit": "32M"}}]
    # The flag beats the default.
    r, u = run_pod(pod, "nspawn", "--memory=400M", *sh(alloc), env=env)
    assert r.returncode == 0, r.stderr
    assert status(pod, u)["app-busybox-isolator"] == 'resource/memory {"limit":"400M"}'


def test_limits_precedence_flag_then_image_then_default(pod, tmp_path):
    env, _ = configure(pod, tmp_path, {"limits": {"memory": "32M", "cpu": "500m", "pidsLimit": 100}})
    aci = busybox_variant(str(tmp_path / "limited.aci"), "example.com/busybox-limited",
                          app={"isolators": [{"name": "resource/memory", "value": {"limit": "64M"}}]})
    r = prepare(pod, env, f"--stage1-path={STAGE1['nspawn']}", image=aci)
    assert r.returncode == 0, r.stderr
    isos = {i["name"]: i["value"] for i in prepared_file(pod, r.stdout.strip(), "pod")["apps"][0]["app"]["isolators"]}
    assert isos == {"resource/memory": {"limit": "64M"}, "resource/cpu": {"limit": "500m"},
                    "resource/pids": {"limit": 100}}
    r = pod.run("prepare", "--insecure-options=image", f"--stage1-path={STAGE1['nspawn']}", aci, "--memory=16M",
                "--pids-limit=7", env=env)
    assert r.returncode == 0, r.stderr
    isos = {i["name"]: i["value"] for i in prepared_file(pod, r.stdout.strip(), "pod")["apps"][0]["app"]["isolators"]}
    assert isos == {"resource/memory": {"limit": "16M"}, "resource/cpu": {"limit": "500m"},
                    "resource/pids": {"limit": 7}}


def test_bad_limits_and_trust_values_name_the_file_and_key(pod, tmp_path):
    for doc, msg in [
            ({"limits": {"memory": "-1"}}, 'limits.memory is not a valid --memory: --memory=-1: limit "-1" is not a size'
             ' (a positive number of bytes, optionally with k, M, G, Ki, Mi or Gi)'),
            ({"limits": {"cpu": []}}, "limits.cpu must be a non-empty string or a number"),
            ({"limits": {"memroy": "1G"}}, 'unknown key "limits.memroy" (known: memory, cpu, pidsLimit)'),
            ({"trust": {"insecureOptions": "imgae"}}, 'trust.insecureOptions: unknown value "imgae" (known: none, '
             'image, http, tls, all-fetch, all, all-run, isolators, seccomp, capabilities, paths)'),
            ({"networks": {"default": "a,a"}}, "networks.default is not a --net value: --net=a,a: network a is given twice"),
            ({"stage1": {"options": {"cpus": 2}}}, "stage1.options.cpus must be a string (the --stage1-opt value)")]:
        env, local = configure(pod, tmp_path, doc)
        for verb in (["config"], ["prepare", BUSYBOX_ACI]):
            r = pod.run(*verb, env=env)
            assert (r.returncode, r.stderr) == (1, f"pod: configuration {local}: {msg}\n"), (verb, r.stderr)


def test_trust_insecure_options_applies_to_app_add(pod, tmp_path):
    reason = flavor_skip_reason("nspawn")
    if reason:
        pytest.skip(reason)
    env, local = configure(pod, tmp_path, {"trust": {"insecureOptions": ["image", "seccomp"]}})
    u = pod.run("app", "sandbox", f"--stage1-path={STAGE1['nspawn']}", env=env, timeout=120, check=0).stdout.strip()
    try:
        other = busybox_variant(str(tmp_path / "other.aci"), "example.com/unsigned-added")
        r = pod.run("app", "add", u, other, "--name", "x", "--exec", "/bin/true", env=env, timeout=120)
        assert (r.returncode, r.stdout) == (0, "x\n"), r.stderr
        assert f"--insecure-options=image from trust.insecureOptions in {local}" in r.stderr  # its fetch values
        assert UNVERIFIED in r.stderr, r.stderr
        r = pod.run("app", "add", "--insecure-options=none", u, busybox_variant(
            str(tmp_path / "third.aci"), "example.com/unsigned-third"), "--name", "y", env=env, timeout=120)
        assert r.returncode == 1 and "is not signed" in r.stderr, r.stderr
    finally:
        pod.run("stop", u, timeout=90, check=0)


def test_limits_go_under_a_pod_manifests_isolators(pod, tmp_path):
    env, _ = configure(pod, tmp_path, {"limits": {"memory": "32M", "pidsLimit": 50}})
    image_id = pod.run("fetch", "--insecure-options=image", "--full", BUSYBOX_ACI, env=env, check=0).stdout.strip()
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"acKind": "PodManifest", "acVersion": "0.8.11", "apps": [
        {"name": "a", "image": {"id": image_id},
         "app": {"exec": ["/bin/true"], "user": "0", "group": "0",
                 "isolators": [{"name": "resource/memory", "value": {"limit": "64M"}}]}}]}))
    r = pod.run("prepare", "--insecure-options=image", f"--stage1-path={STAGE1['nspawn']}",
                f"--pod-manifest={manifest}", env=env)
    assert r.returncode == 0, r.stderr
    isos = {i["name"]: i["value"] for i in prepared_file(pod, r.stdout.strip(), "pod")["apps"][0]["app"]["isolators"]}
    assert isos == {"resource/memory": {"limit": "64M"}, "resource/pids": {"limit": 50}}
