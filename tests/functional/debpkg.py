"""The Debian packages of the source tree, built once and shared by every test that needs them
(test_deb.py on this machine, test_systemd_guest.py inside a booted Debian guest): see the session fixture
`debs` in conftest.py.

The build runs in $POD_BUILD_DIR/deb-pkg (a fixed path under ccache's base_dir, so a second build is mostly
cache hits) with DEB_BUILD_OPTIONS="nocheck noautodbgsym": the unit tests run from scripts/test already
(debian/rules also builds with -Dtests=false), and no test needs the -dbgsym packages, whose debug info takes
minutes to split out. A build already there is reused when it was made from the same source: `source.sha256` in that directory is the hash of every file
the build copies (path and content) except tests/functional/, which meson neither builds nor installs. The
stamp is written last, after the packages, so an interrupted build is never taken for a finished one."""
import glob
import hashlib
import os
import shutil
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PACKAGES = ("pod", "libpod0", "libpod-dev")
BUILD_TIMEOUT = 60 * 60  # a cold build took just over 40 min on the shared 2-core machine
TOOLS = ("dpkg-buildpackage", "dh", "dpkg-deb", "git")


def source_files():
    """The tracked (and new, not ignored) files of the source tree, relative to ROOT, sorted."""
    out = subprocess.run(["git", "-C", ROOT, "ls-files", "-co", "--exclude-standard", "-z"],
                         capture_output=True, check=True).stdout.split(b"\0")
    rels = (f.decode() for f in out if f)
    return sorted(r for r in rels if not r.startswith("build/") and os.path.isfile(os.path.join(ROOT, r)))


def source_hash(files):
    h = hashlib.sha256()
    for rel in files:
        if rel.startswith("tests/functional/"):
            continue
        h.update(rel.encode() + b"\0")
        with open(os.path.join(ROOT, rel), "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def found_packages(work):
    found = {}
    for p in PACKAGES:
        hits = glob.glob(os.path.join(work, f"{p}_*_amd64.deb"))
        assert len(hits) == 1, (p, os.listdir(work))
        found[p] = hits[0]
    changes = glob.glob(os.path.join(work, "pod_*_amd64.changes"))
    assert len(changes) == 1, os.listdir(work)
    found["changes"] = changes[0]
    return found


def build(work):
    """Returns {package: path of its .deb, "changes": path of the .changes}, building them if needed."""
    files = source_files()
    digest = source_hash(files)
    stamp = os.path.join(work, "source.sha256")
    try:
        with open(stamp) as f:
            if f.read().strip() == digest:
                return found_packages(work)
    except FileNotFoundError:
        pass
    shutil.rmtree(work, ignore_errors=True)
    src = os.path.join(work, "src")
    os.makedirs(src)
    for rel in files:
        os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), os.path.join(src, rel))
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=2")
    with open(os.path.join(work, "build.log"), "w") as log:
        r = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env, stdout=log,
                           stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT)
    with open(os.path.join(work, "build.log")) as f:
        assert r.returncode == 0, f.read()[-6000:]
    shutil.rmtree(src, ignore_errors=True)
    found = found_packages(work)
    with open(stamp + ".tmp", "w") as f:
        f.write(digest + "\n")
    os.rename(stamp + ".tmp", stamp)
    return found
