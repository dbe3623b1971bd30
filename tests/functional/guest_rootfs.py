"""A minimal Debian root file system for test_systemd_guest.py, made with debootstrap and cached on the machine.

The cache is a tarball in /var/cache/pod-tests (or $POD_TEST_CACHE) named after a hash of what went into it
(suite, mirror, variant and the sorted package list), so a changed package list builds a new one. It is built
in a temporary directory beside it and renamed into place only once complete: a test killed while building
leaves no half cache, only a `tmp-*` directory that the next build removes."""
import glob
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
VARIANT = "minbase"
CACHE_DIR = os.environ.get("POD_TEST_CACHE", "/var/cache/pod-tests")
BUILD_TIMEOUT = 10 * 60
# What the guest needs besides pod's own Depends: systemd as PID 1 (systemd-sysv gives /sbin/init), machined
# and nspawn (systemd-container, which pod recommends), the bus machined and systemctl talk over, udev for the
# device units, kmod for the modules pod loads (overlay), procps for the guest script's pgrep.
BASE_PACKAGES = ("systemd", "systemd-sysv", "systemd-container", "dbus", "udev", "kmod", "procps")


class Unavailable(Exception):
    """The cache is missing and cannot be built on this machine, for the reason given."""


def package_list(depends, own):
    """The packages to debootstrap: BASE_PACKAGES and each package of a Depends field (the first of each
    alternative, without version), minus the packages in `own` (the ones the test installs from its .debs)."""
    names = set(BASE_PACKAGES)
    for dep in depends.split(","):
        first = dep.split("|")[0].split("(")[0].split(":")[0].strip()
        if first and first not in own:
            names.add(first)
    return sorted(names)


def cache_key(packages):
    text = "\n".join([SUITE, MIRROR, VARIANT, *packages])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_path(packages):
    return os.path.join(CACHE_DIR, f"debian-{SUITE}-{cache_key(packages)}.tar.zst")


def check_archive():
    """Raises Unavailable when the archive cannot be reached: the suite's Release file is fetched (20 s)."""
    url = f"{MIRROR}/dists/{SUITE}/Release"
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            if r.status != 200 or not r.read(64).startswith(b"Origin: Debian"):
                raise Unavailable(f"{url} did not answer as a Debian archive (HTTP {r.status})")
    except (urllib.error.URLError, OSError) as e:
        raise Unavailable(f"the Debian archive is unreachable: {url}: {e}") from e


def ensure(packages, log):
    """The path of the cached rootfs tarball for `packages`, built first when missing (bounded). Writes what
    it did to `log` (a text file)."""
    path = cache_path(packages)
    if os.path.exists(path):
        return path
    if shutil.which("debootstrap") is None:
        raise Unavailable("debootstrap missing (scripts/install-deps)")
    check_archive()
    os.makedirs(CACHE_DIR, exist_ok=True)
    for stale in glob.glob(os.path.join(CACHE_DIR, "tmp-*")):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = tempfile.mkdtemp(prefix="tmp-", dir=CACHE_DIR)
    try:
        root = os.path.join(tmp, "root")
        t0 = time.monotonic()
        r = subprocess.run(["debootstrap", f"--variant={VARIANT}", "--include=" + ",".join(packages), SUITE, root,
                            MIRROR], stdout=log, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT)
        assert r.returncode == 0, f"debootstrap exited {r.returncode} (see {log.name})"
        # Nothing of the apt lists or downloaded packages is needed in the guest.
        for d in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for f in glob.glob(os.path.join(root, d, "*")):
                if os.path.isfile(f):
                    os.unlink(f)
        part = os.path.join(tmp, "rootfs.tar.zst")
        subprocess.run(["tar", "--zstd", "--numeric-owner", "--xattrs", "-C", root, "-cf", part, "."], check=True,
                       stdout=log, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT)
        with open(part, "rb") as f:
            os.fsync(f.fileno())
        os.rename(part, path)
        log.write(f"rootfs cache {path} built in {time.monotonic() - t0:.0f} s\n")
        return path
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def extract(tarball, dest):
    subprocess.run(["tar", "--zstd", "--numeric-owner", "--xattrs", "-C", dest, "-xf", tarball], check=True,
                   capture_output=True, timeout=300)
