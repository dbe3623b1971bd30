"""Fixtures for functional tests: the real `pod` binary against a fresh data dir."""
import os
import shutil
import subprocess
import tempfile

import pytest

BUILD = os.environ.get("POD_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
POD_BIN = os.environ.get("POD_BIN", os.path.join(BUILD, "stage0", "pod"))
FIXTURE_BIN = os.path.join(BUILD, "tests", "pod-fixture")


class Pod:
    """Runs the pod binary with --dir pointing at a private data dir."""

    def __init__(self, datadir):
        self.dir = datadir

    def run(self, *args, check=None, timeout=120, env=None, input=None):
        cmd = [POD_BIN, "--dir", self.dir, *args]
        e = dict(os.environ)
        e.pop("POD_DIR", None)
        if env:
            e.update(env)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=e, input=input)
        if check is True and r.returncode != 0:
            raise AssertionError(f"{cmd} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        if isinstance(check, int) and check is not True and r.returncode != check:
            raise AssertionError(f"{cmd} exited {r.returncode}, expected {check}:\n{r.stdout}\n{r.stderr}")
        return r

    def fixture(self, state, count=1, app="app"):
        """Create pods in `state` through the library; returns UUIDs (and pids for running)."""
        out = subprocess.run([FIXTURE_BIN, self.dir, state, str(count), app],
                             capture_output=True, text=True, check=True).stdout.split("\n")
        return [l for l in out if l]

    def state_dirs(self):
        base = os.path.join(self.dir, "pods")
        return {d: sorted(os.listdir(os.path.join(base, d))) for d in os.listdir(base)}


@pytest.fixture
def pod():
    d = tempfile.mkdtemp(prefix="pod-func-")
    p = Pod(d)
    yield p
    # Collect what the test left so that the stage1s' gc removes the pods' cgroups and state outside the
    # data dir too (running pods are the test's to stop; gc leaves them alone).
    subprocess.run([POD_BIN, "--dir", d, "gc", "--grace-period=0", "--expire-prepared=0"], capture_output=True,
                   timeout=120)
    subprocess.run(["umount", "-R", "-l", d], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def debs():
    """The Debian packages of this source tree ({package: .deb path, "changes": .changes path}), built once per
    source tree in $POD_BUILD_DIR/deb-pkg (debpkg.py). Callers skip first when the build tools are missing."""
    import debpkg
    return debpkg.build(os.path.join(os.path.abspath(BUILD), "deb-pkg"))


def needs_root():
    return pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def pytest_configure(config):
    config.addinivalue_line("markers", "both_flavors: run this test for the kvm stage1 flavour too")
