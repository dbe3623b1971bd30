"""--private-users (Documentation/isolation.md): a root pod in a user namespace with host ids of its own, its
trees idmapped (the store keeps the host's ids), ranges that never overlap, released by gc."""
import io
import json
import os
import signal
import subprocess
import tarfile
import tempfile

import pytest

from acis import _info
from runhelpers import BUSYBOX_ACI, STAGE1, flavor_skip_reason, logs, reap_pod, run_pod, sh, start_pod, status


@pytest.fixture(params=["nspawn", "native"])
def flavor(request):
    reason = flavor_skip_reason(request.param)
    if reason:
        pytest.skip(reason)
    return request.param


def records(pod):
    """The data dir's range records: {base: (count, uuid)}."""
    d = os.path.join(pod.dir, "userns")
    out = {}
    for n in os.listdir(d) if os.path.isdir(d) else []:
        if n.isdigit():
            count, uuid = open(os.path.join(d, n)).read().split()
            out[int(n)] = (int(count), uuid)
    return out


def owned_image(path):
    """busybox with /owned (uid 1000, gid 1001) and a setuid /suid, under another name."""
    with tarfile.open(BUSYBOX_ACI) as src, tarfile.open(path, "w") as dst:
        for ti in src.getmembers():
            data = src.extractfile(ti).read() if ti.isfile() else None
            if ti.name == "manifest":
                m = json.loads(data)
                m["name"] = "example.com/busybox-owned"
                data = json.dumps(m).encode()
                ti.size = len(data)
            dst.addfile(ti, io.BytesIO(data) if data is not None else None)
        dst.addfile(_info("rootfs/owned", size=2, mode=0o644, uid=1000, gid=1001), io.BytesIO(b"o\n"))
        dst.addfile(_info("rootfs/suid", size=2, mode=0o4755, uid=0, gid=0), io.BytesIO(b"s\n"))
    return path


def run_image(pod, flavor, image, *args, pod_flags=()):
    uuid_file = os.path.join(pod.dir, "uuid-img")
    r = pod.run("run", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}", f"--uuid-file-save={uuid_file}",
                *pod_flags, image, *args, timeout=120)
    return r, open(uuid_file).read().strip()


@pytest.fixture
def no_idmap_pod(tmp_path):
    """A data dir on a filesystem without idmapped mounts: an overlayfs mount (Linux idmaps an overlay's layers,
    never the overlay itself), which cannot be an overlay's upper layer either."""
    from conftest import POD_BIN, Pod
    for d in ("lower", "upper", "work"):
        (tmp_path / d).mkdir()
    d = tempfile.mkdtemp(prefix="pu-", dir="/tmp")
    r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={tmp_path}/lower,upperdir={tmp_path}/upper,workdir={tmp_path}/work", d],
                       capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(d)
        pytest.skip("cannot mount an overlayfs here: " + r.stderr.strip())
    try:
        yield Pod(d)
    finally:
        subprocess.run([POD_BIN, "--dir", d, "gc", "--grace-period=0"], capture_output=True, timeout=120)
        subprocess.run(["umount", "-R", "-l", d], capture_output=True)
        os.rmdir(d)


def test_without_idmapped_mounts_the_pod_dir_and_copies_are_chowned(no_idmap_pod, flavor, tmp_path):
    pod = no_idmap_pod
    r, u, p = check_shifted_root(pod, flavor, tmp_path, "chown")
    assert (f"warning: --private-users: {pod.dir} cannot be mounted idmapped (no idmapped mounts on its filesystem)"
            in r.stderr), r.stderr
    # The pod dir is its root's, so what the init wrote there (the app's record) is 1000000's on the host.
    for rel in ("", "appstatus/busybox-owned", "stage1-state"):
        st = os.stat(os.path.join(p, rel))
        assert (st.st_uid, st.st_gid) == (1000000, 1000000), rel
    assert status(pod, u)["user-namespace"] == (f"0->1000000+65536 (chown); pod dir chowned, {pod.dir} has no "
                                                 "idmapped mounts")
    assert pod.run("rm", u, check=0).returncode == 0
    assert records(pod) == {}


@pytest.mark.parametrize("mode", ["overlay", "copy"])
def test_pod_root_is_a_shifted_host_id(pod, flavor, tmp_path, mode):
    check_shifted_root(pod, flavor, tmp_path, mode)
    u = next(iter(records(pod).values()))[1]
    assert status(pod, u)["user-namespace"] == "0->1000000+65536 " + ("(idmapped)" if mode == "overlay" else "(chown)")
    # What the init wrote in the pod dir went through the idmapped /pod: the host root's on disk.
    pods = os.path.join(pod.dir, "pods")
    p = next(os.path.join(pods, d, u) for d in os.listdir(pods) if os.path.isdir(os.path.join(pods, d, u)))
    assert os.stat(os.path.join(p, "appstatus", "busybox-owned")).st_uid == 0


def check_shifted_root(pod, flavor, tmp_path, mode):
    """The pod's root is host uid 1000000 ("overlay": trees idmapped; "copy": --no-overlay, the copy chowned;
    "chown": no idmapped mounts at all). Returns (the run's result, the uuid, the pod dir)."""
    vol = tmp_path / "vol"
    vol.mkdir()
    os.chmod(vol, 0o777)
    image = owned_image(str(tmp_path / "owned.aci"))
    script = ("id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; stat -c '%u:%g %a' /owned /suid /etc/passwd; "
              "echo vol > /v/out; echo up > /upfile; touch /owned && echo touched")
    flags = ["--private-users=1000000:65536", f"--volume=v,kind=host,source={vol}"]
    if mode == "copy":
        flags.append("--no-overlay")  # (mode "chown" gets a copy without asking)
    r, u = run_image(pod, flavor, image, "--mount", "volume=v,target=/v", *sh(script), pod_flags=flags)
    assert r.returncode == 0, r.stderr
    out = logs(pod, u).split("\n")
    assert out[:4] == ["0", "0", "         0    1000000      65536", "         0    1000000      65536"], out
    # The image's owners as they are in the image; the setuid bit kept.
    assert out[4:7] == ["1000:1001 644", "0:0 4755", "0:0 644"], out
    assert out[7] == "touched", out  # its root may change a file of uid 1000: 1001000 on the host, in its range
    # A host volume is not idmapped: what the pod's root writes is the host's uid 1000000.
    st = os.stat(vol / "out")
    assert (st.st_uid, st.st_gid) == (1000000, 1000000) and open(vol / "out").read() == "vol\n"
    # The store's trees keep the host's ids; the pod's own layer has the shifted ones (overlay) or the
    # host's (a copy, seen idmapped).
    pods = os.path.join(pod.dir, "pods")
    p = next(os.path.join(pods, d, u) for d in os.listdir(pods) if os.path.isdir(os.path.join(pods, d, u)))
    if mode == "overlay":
        st = os.stat(os.path.join(p, "overlay", "app-busybox-owned", "upper", "upfile"))
        assert (st.st_uid, st.st_gid) == (1000000, 1000000)
        st = os.stat(os.path.join(p, "overlay", "app-busybox-owned", "upper", "owned"))
        assert (st.st_uid, st.st_gid) == (1001000, 1001001)
    else:  # the pod's copy got the shifted owners at prepare
        root = os.path.join(p, "stage1", "rootfs", "opt", "stage2", "busybox-owned", "rootfs")
        for f, ids in [("upfile", (1000000, 1000000)), ("owned", (1001000, 1001001)), ("suid", (1000000, 1000000))]:
            st = os.stat(os.path.join(root, f))
            assert (st.st_uid, st.st_gid) == ids, f
        assert os.stat(os.path.join(root, "suid")).st_mode & 0o7777 == 0o4755
    assert records(pod) == {1000000: (65536, u)}
    return r, u, p


def test_ranges_never_overlap_and_gc_releases_them(pod, flavor):
    p1, u1 = start_pod(pod, flavor, *sh("sleep 600"), pod_flags=("--private-users",))
    try:
        r, u2 = run_pod(pod, flavor, *sh("cat /proc/self/uid_map"), pod_flags=("--private-users",))
        assert r.returncode == 0, r.stderr
        recs = records(pod)
        assert sorted(v[1] for v in recs.values()) == sorted([u1, u2])
        (b1, (c1, _)), (b2, (c2, _)) = sorted(recs.items())
        assert c1 == c2 == 65536 and b1 >= 524288 and b2 >= b1 + c1
        base2 = next(b for b, (c, uu) in recs.items() if uu == u2)
        assert logs(pod, u2).split() == ["0", str(base2), "65536"]
        # A range that overlaps a pod's is refused, naming the pod.
        r, _ = run_pod(pod, flavor, *sh("true"), pod_flags=(f"--private-users={base2 + 10}:100",))
        assert r.returncode == 2, r.stderr
        assert f"overlaps the ids {base2}:65536 of pod {u2}" in r.stderr
        # Once that pod is removed, its range is free again.
        pod.run("rm", u2, check=0)
        assert u2 not in [v[1] for v in records(pod).values()]
        r, u3 = run_pod(pod, flavor, *sh("cat /proc/self/uid_map"), pod_flags=(f"--private-users={base2 + 10}:100",))
        assert r.returncode == 0, r.stderr
        assert logs(pod, u3).split() == ["0", str(base2 + 10), "100"]
    finally:
        reap_pod(pod, p1, u1)


def test_gc_drops_the_record_of_a_pod_that_is_gone(pod, flavor):
    r, u = run_pod(pod, flavor, *sh("true"), pod_flags=("--private-users=2000000:1000",))
    assert r.returncode == 0, r.stderr
    # A kill -9 between the removal of the pod and of its record.
    r = pod.run("rm", u, env={"POD_CRASHPOINT": "delete:before-userns-release"})
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr)
    assert records(pod) == {2000000: (1000, u)}
    r = pod.run("gc", check=0)
    assert f"released the --private-users ids of removed pod {u}" in r.stdout + r.stderr
    assert records(pod) == {}


@pytest.mark.parametrize("value,message", [
    ("0:65536", "UID 0 would map the pod's root to the host's root"),
    ("100000:0", "COUNT must be at least 1"),
    ("abc", "UID \"abc\" is not a number"),
    ("4294967000:1000", "4294967000:1000 goes past the last host id (4294967294)"),
])
def test_bad_values(pod, value, message):
    r, _ = run_pod(pod, "native", *sh("true"), pod_flags=(f"--private-users={value}",))
    assert r.returncode == 2 and f"--private-users: {message}" in r.stderr, r.stderr


def test_a_stage1_that_does_not_declare_it_refuses(pod):
    reason = flavor_skip_reason("kvm")
    if reason:
        pytest.skip(reason)
    r, _ = run_pod(pod, "kvm", *sh("true"), pod_flags=("--private-users",))
    assert r.returncode == 1 and "cannot run a pod in a user namespace of its own (--private-users)" in r.stderr, r.stderr
