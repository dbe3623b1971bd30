"""`meson install` installs pod, libpod, its headers and pod.pc, both stage1 images, the units and the docs;
the example program in Documentation/examples/ builds against the installed headers with pkg-config alone and
runs a pod through the public API."""
import glob
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import BUILD, needs_root

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLE = os.path.join(ROOT, "Documentation", "examples", "api-example.cpp")
BUSYBOX_ACI = os.path.join(BUILD, "images", "busybox.aci")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    dest = str(tmp_path_factory.mktemp("destdir"))
    r = subprocess.run(["meson", "install", "-C", BUILD, "--destdir", dest, "--no-rebuild", "--quiet"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    yield dest
    shutil.rmtree(dest, ignore_errors=True)


def one(dest, pattern):
    hits = glob.glob(os.path.join(dest, pattern), recursive=True)
    assert len(hits) == 1, f"{pattern}: {hits}"
    return hits[0]


def libdir(dest):
    return os.path.dirname(one(dest, "usr/local/lib*/**/libpod.so.0"))


def test_install_lays_out_everything(installed):
    d = installed
    assert os.access(one(d, "usr/local/bin/pod"), os.X_OK)
    assert os.path.exists(os.path.join(libdir(d), "libpod.so"))
    for h in ("pod.hpp", "error.hpp", "spec.hpp", "types.hpp"):
        one(d, f"usr/local/include/pod/{h}")
    one(d, "usr/local/lib*/**/pkgconfig/pod.pc")
    for f in ("pod-stage1-nspawn.aci", "pod-stage1-kvm.aci", "stage1.json"):
        one(d, f"usr/local/libexec/pod/{f}")
    with open(one(d, "usr/local/libexec/pod/stage1.json")) as f:
        cfg = f.read()
    assert '"defaultFlavor": "native"' in cfg and '"kvm": "pod-stage1-kvm.aci"' in cfg, cfg
    for u in ("pod@.service", "pod-gc.service", "pod-gc.timer"):
        one(d, f"usr/local/lib/systemd/system/{u}")
    one(d, "usr/local/share/doc/pod/Documentation/api.md")
    for page in ("pod.1", "pod-run.1", "pod-image-list.1"):
        one(d, f"usr/local/share/man/man1/{page}")
    one(d, "usr/local/share/bash-completion/completions/pod")
    one(d, "usr/local/share/zsh/vendor-completions/_pod")
    one(d, "usr/local/share/fish/vendor_completions.d/pod.fish")


def build_example(dest, tmp_path):
    pc_dir = os.path.dirname(one(dest, "usr/local/lib*/**/pkgconfig/pod.pc"))
    env = dict(os.environ, PKG_CONFIG_PATH=pc_dir, PKG_CONFIG_SYSROOT_DIR=dest)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "pod"], capture_output=True, text=True, env=env,
                           check=True).stdout.split()
    assert not any(ROOT in f for f in flags), flags  # only the installed tree
    exe = str(tmp_path / "api-example")
    r = subprocess.run(["c++", "-o", exe, EXAMPLE, *flags], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    run_env = dict(os.environ, LD_LIBRARY_PATH=libdir(dest),
                   POD_STAGE1_PATH=os.path.join(dest, "usr/local/libexec/pod/pod-stage1-nspawn.aci"))
    run_env.pop("POD_DIR", None)
    return exe, run_env


@needs_root()
def test_example_program_runs_a_pod_through_the_installed_api(installed, tmp_path):
    exe, env = build_example(installed, tmp_path)
    data = tempfile.mkdtemp(prefix="pod-api-")  # short: unix socket paths live below it
    try:
        r = subprocess.run([exe, data, BUSYBOX_ACI, "api-says-hi"], capture_output=True, text=True, env=env,
                           timeout=120)
        check_example_run(r, data)
    finally:
        subprocess.run(["umount", "-R", "-l", data], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def check_example_run(r, data):
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("pod ") and lines[0].endswith(" is prepared"), r.stdout
    assert any(l.endswith(" is exited, exit status 0") for l in lines), r.stdout
    assert "app hello exited with 0 and wrote: api-says-hi" in r.stdout
    # removed: nothing left in any state dir
    for state in os.listdir(os.path.join(data, "pods")):
        assert os.listdir(os.path.join(data, "pods", state)) == [], state


@needs_root()
def test_example_program_reports_the_error_kind(installed, tmp_path):
    exe, env = build_example(installed, tmp_path)
    r = subprocess.run([exe, str(tmp_path / "data"), str(tmp_path / "no-such.aci")], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.startswith("api-example: not-found: "), r.stderr
