"""Isolator reporting (appc: the executor tells which isolators it enforces or ignores): an isolator pod does not
know warns at prepare, runs, and shows as ignored in `pod status`; --strict-isolators refuses it instead."""
import json

from acis import busybox_variant
from runhelpers import STAGE1, flavor, status  # noqa: F401 (flavor is a fixture)

UNKNOWN = {"name": "example.com/frobnicate", "value": {"level": 3}}
MEMORY = {"name": "resource/memory", "value": {"limit": "256M"}}


def image(tmp_path, isolators):
    return busybox_variant(str(tmp_path / "iso.aci"), "example.com/busybox-iso", app={"isolators": isolators})


def run(pod, flavor, tmp_path, aci, *flags, verb="run", insecure="image"):
    uuid_file = tmp_path / "uuid"
    r = pod.run(verb, f"--insecure-options={insecure}", f"--stage1-path={STAGE1[flavor]}", f"--uuid-file-save={uuid_file}",
                *flags, aci, "--name=web", "--exec=/bin/true", timeout=180)
    return r, uuid_file.read_text().strip() if uuid_file.exists() else None


def test_unknown_isolator_warns_runs_and_is_reported_ignored(pod, flavor, tmp_path):
    r, u = run(pod, flavor, tmp_path, image(tmp_path, [UNKNOWN, MEMORY]))
    assert r.returncode == 0, r.stderr
    assert "app web: isolator example.com/frobnicate: unknown isolator, ignored" in r.stderr
    st = status(pod, u)
    assert st["app-web-isolator-ignored"] == "example.com/frobnicate: unknown isolator"
    j = json.loads(pod.run("status", "--format=json", u, check=0).stdout)
    assert j["apps"][0]["ignoredIsolators"] == ["example.com/frobnicate: unknown isolator"]
    # the enforced one is listed, and not as ignored
    assert [i["name"] for i in j["apps"][0]["isolators"]] == ["example.com/frobnicate", "resource/memory"]


def test_strict_isolators_refuses_an_unknown_one(pod, flavor, tmp_path):
    r, u = run(pod, flavor, tmp_path, image(tmp_path, [UNKNOWN]), "--strict-isolators", verb="prepare")
    assert r.returncode == 1, r.stderr
    assert ("app web: isolator example.com/frobnicate: unknown isolator, which --strict-isolators refuses"
            in r.stderr), r.stderr
    assert u is None  # no pod was made


def test_strict_isolators_accepts_enforced_ones(pod, flavor, tmp_path):
    r, u = run(pod, flavor, tmp_path, image(tmp_path, [MEMORY]), "--strict-isolators")
    assert r.returncode == 0, r.stderr
    assert "app-web-isolator-ignored" not in status(pod, u)


def test_a_not_implemented_appc_isolator_is_refused_unless_insecure(pod, flavor, tmp_path):
    selinux = {"name": "os/linux/selinux-context", "value": {"user": "u", "role": "r", "type": "t", "level": "s0"}}
    aci = image(tmp_path, [selinux])
    r, _ = run(pod, flavor, tmp_path, aci, verb="prepare")
    assert r.returncode == 1 and "isolator os/linux/selinux-context cannot be enforced" in r.stderr, r.stderr
    r, u = run(pod, flavor, tmp_path, aci, insecure="image,isolators")
    assert r.returncode == 0, r.stderr
    assert "running without it (--insecure-options=isolators)" in r.stderr
