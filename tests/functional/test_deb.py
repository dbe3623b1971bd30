"""The Debian package (debian/, Documentation/packaging.md): one `dpkg-buildpackage -b` of the source tree;
lintian on it; the package's layout; then the packages installed on this machine
with dpkg and the example pod run from the installed paths only (/usr/bin/pod, the stage1 images in
/usr/lib/pod). The packages are purged again when the module ends.

Installed on the host, not in a chroot: nothing the build-tree tests run looks in /usr/bin, /usr/lib/pod or
the system unit and completion dirs (the build tree's pod finds its stage1 images through the stage1.json
next to it). The same packages under a real systemd, in a booted Debian guest, are test_systemd_guest.py's.

The packages come from the session fixture `debs` (conftest.py, debpkg.py): one build per source tree, shared
with test_systemd_guest.py."""
import glob
import json
import os
import re
import shutil
import subprocess

import pytest

from debpkg import PACKAGES, ROOT

TOOLS = ("dpkg-buildpackage", "dh", "lintian", "dpkg-deb", "git")
missing = [t for t in TOOLS if shutil.which(t) is None]
pytestmark = [
    pytest.mark.skipif(bool(missing), reason=f"the package build needs {', '.join(missing)} (scripts/install-deps)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="installing the package needs root"),
]


def control_field(text, field):
    m = re.search(rf"^{field}:(.*(?:\n[ \t].*)*)", text, re.M)
    assert m, field
    return m.group(1)


def install_deps_packages():
    with open(os.path.join(ROOT, "scripts", "install-deps")) as f:
        text = f.read()
    body = text[text.index("packages=(") + len("packages=("):text.index("\n)\n")]
    return {w for line in body.splitlines() for w in line.split("#")[0].split()}


def contents(deb):
    out = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True).stdout
    return {"/" + line.split()[5].lstrip("./") for line in out.splitlines()}


def test_build_depends_are_what_install_deps_installs():
    with open(os.path.join(ROOT, "debian", "control")) as f:
        control = f.read()
    deps = {d.split("(")[0].split("<")[0].strip() for d in control_field(control, "Build-Depends").split(",")}
    deps.discard("debhelper-compat")  # debhelper, named in install-deps itself
    have = install_deps_packages()
    assert deps - have == set(), "Build-Depends that scripts/install-deps does not install"
    assert {"debhelper", "dpkg-dev", "lintian"} <= have


def test_lintian_is_clean(debs):
    r = subprocess.run(["lintian", "--fail-on", "error,warning", "--display-info", debs["changes"]],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    # Every tag left (infos, overridden ones) is explained in Documentation/packaging.md.
    with open(os.path.join(ROOT, "Documentation", "packaging.md")) as f:
        doc = f.read()
    tags = {m.group(1) for m in re.finditer(r"^[EWIPX]: [^:]+: (\S+)", r.stdout, re.M)}
    overridden = set()
    for o in glob.glob(os.path.join(ROOT, "debian", "*.lintian-overrides")):
        with open(o) as f:
            for line in f:  # "[package: ]tag [context]"
                words = line.split()
                if words and not words[0].startswith("#"):
                    overridden.add(words[1] if words[0].endswith(":") else words[0])
    assert {t for t in tags | overridden if f"`{t}`" not in doc} == set(), r.stdout


def test_package_lays_out_pod_by_the_fhs(debs):
    pod = contents(debs["pod"])
    expected = {"/usr/bin/pod", "/usr/lib/pod/pod-cri", "/usr/lib/pod/stage1.json",
                "/usr/lib/pod/pod-stage1-native.aci", "/usr/lib/pod/pod-stage1-nspawn.aci",
                "/usr/lib/pod/pod-stage1-kvm.aci", "/usr/lib/pod/examples/busybox.aci",
                "/lib/systemd/system/pod@.service", "/lib/systemd/system/pod-gc.service",
                "/lib/systemd/system/pod-gc.timer", "/lib/systemd/system/pod-cri.service",
                "/usr/share/bash-completion/completions/pod", "/usr/share/zsh/vendor-completions/_pod",
                "/usr/share/fish/vendor_completions.d/pod.fish", "/usr/share/man/man1/pod.1.gz",
                "/usr/share/man/man1/pod-run.1.gz", "/usr/share/man/man1/pod-image-list.1.gz",
                "/usr/share/doc/pod/copyright"}
    assert expected - pod == set()
    # dh_compress gzips a document past 4 KiB, so packaging.md is there in one of the two forms.
    doc = "/usr/share/doc/pod/Documentation/packaging.md"
    assert len({doc, doc + ".gz"} & pod) == 1, sorted(f for f in pod if "/doc/" in f)
    assert not [f for f in pod if f.startswith(("/usr/local", "/usr/libexec", "/usr/lib/systemd"))]
    lib = contents(debs["libpod0"])
    assert "/usr/lib/x86_64-linux-gnu/libpod.so.0" in lib
    dev = contents(debs["libpod-dev"])
    assert {"/usr/include/pod/pod.hpp", "/usr/lib/x86_64-linux-gnu/libpod.so",
            "/usr/lib/x86_64-linux-gnu/pkgconfig/pod.pc"} - dev == set()


@pytest.fixture(scope="module")
def installed(debs):
    r = subprocess.run(["dpkg", "-i", debs["pod"], debs["libpod0"], debs["libpod-dev"]],
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        yield
    finally:
        subprocess.run(["dpkg", "--purge", *PACKAGES], capture_output=True, timeout=300)


def installed_pod(*args, datadir, timeout=120):
    """/usr/bin/pod with nothing of the build tree in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POD_")}
    env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
    return subprocess.run(["/usr/bin/pod", "--dir", datadir, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd="/")


def test_installed_units_name_the_installed_pod(installed):
    with open("/lib/systemd/system/pod@.service") as f:
        unit = f.read()
    assert "ExecStart=/usr/bin/pod run --uuid-file-save=/run/pod/%i.uuid $POD_ARGS" in unit
    assert "/usr/local" not in unit


@pytest.mark.parametrize("flavor", ["native", "nspawn"])
def test_example_pod_runs_from_the_installed_paths(installed, flavor, tmp_path):
    if flavor == "nspawn" and shutil.which("systemd-nspawn") is None:
        pytest.skip("systemd-nspawn missing (systemd-container)")
    d = f"/tmp/deb{flavor[0]}"
    shutil.rmtree(d, ignore_errors=True)
    try:
        r = installed_pod("run", "--insecure-options=image", f"--stage1-flavor={flavor}",
                          "/usr/lib/pod/examples/busybox.aci", "--exec", "/bin/sh", "--",
                          "-c", "echo hello from the package; exit 3", datadir=d)
        assert r.returncode == 3, r.stdout + r.stderr
        assert "hello from the package" in r.stdout
        r = installed_pod("list", "--format=json", datadir=d)
        assert r.returncode == 0, r.stderr
        [p] = json.loads(r.stdout)
        assert p["state"] == "exited", p
        # The stage1 image the pod ran is the installed one (its store entry came from /usr/lib/pod).
        r = installed_pod("image", "list", "--format=json", datadir=d)
        assert r.returncode == 0, r.stderr
        sources = {i["name"]: i.get("source") for i in json.loads(r.stdout)}
        assert sources.get(f"pod/stage1-{flavor}") == f"/usr/lib/pod/pod-stage1-{flavor}.aci", sources
        r = installed_pod("gc", "--grace-period=0", datadir=d)
        assert r.returncode == 0, r.stderr
    finally:
        installed_pod("gc", "--grace-period=0", datadir=d)
        subprocess.run(["umount", "-R", "-l", d], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def test_installed_man_pages_and_completion(installed):
    r = subprocess.run(["man", "-w", "pod-run"], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout.strip()) == (0, "/usr/share/man/man1/pod-run.1.gz"), r.stderr
    r = subprocess.run(["bash", "-c", "source /usr/share/bash-completion/completions/pod && complete -p pod"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("complete "), r.stdout + r.stderr
