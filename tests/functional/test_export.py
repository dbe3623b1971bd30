"""pod export UUID [--app NAME] FILE.aci: an app of an exited pod with the changes it made to its tree, as a new
ACI that imports and runs again; a running pod is refused; the output appears whole or not at all."""
import json
import os
import tarfile

from runhelpers import BUSYBOX_ACI, STAGE1, flavor, logs, reap_pod, start_pod  # noqa: F401 (flavor: a fixture)


def run(pod, flavor, tmp_path, *args, pod_flags=(), image=BUSYBOX_ACI):
    uuid_file = tmp_path / f"uuid-{len(os.listdir(tmp_path))}"
    r = pod.run("run", "--insecure-options=image", f"--stage1-path={STAGE1[flavor]}", f"--uuid-file-save={uuid_file}",
                *pod_flags, image, *args, timeout=180)
    return r, uuid_file.read_text().strip() if uuid_file.exists() else None


def test_export_keeps_the_apps_changes_and_runs_again(pod, flavor, tmp_path):
    script = "echo made-by-the-app > /made; rm /bin/hostname; mkdir -p /srv/data"
    r, u = run(pod, flavor, tmp_path, "--name=maker", "--set-env=MARK=kept", "--exec", "/bin/sh", "--", "-c", script)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "maker.aci"
    e = pod.run("export", u, str(out))
    assert e.returncode == 0, e.stderr
    image_id = e.stdout.strip()
    assert image_id.startswith("sha512-")
    with tarfile.open(out) as t:
        names = t.getnames()
        assert t.extractfile("rootfs/made").read() == b"made-by-the-app\n"
        m = json.loads(t.extractfile("manifest").read())
    assert "rootfs/srv/data" in names and "rootfs/bin/busybox" in names
    assert "rootfs/bin/hostname" not in names  # the app deleted it (an overlay whiteout is not exported)
    assert not any(n.startswith("rootfs/.") and "wh" in n for n in names)
    assert m["name"] == "example.com/busybox"
    assert {"name": "MARK", "value": "kept"} in m["app"]["environment"]  # the app section the pod ran
    # importable (same ID as export printed) and runnable again, with its changes
    assert pod.run("fetch", "--insecure-options=image", "--full", str(out), check=0).stdout.strip() == image_id
    r2, u2 = run(pod, flavor, tmp_path, "--exec", "/bin/sh", "--", "-c", "cat /made; echo $MARK; test ! -e /bin/hostname",
                 image=str(out))
    assert r2.returncode == 0, r2.stderr
    assert logs(pod, u2).splitlines()[:2] == ["made-by-the-app", "kept"]


def test_export_needs_an_app_name_in_a_pod_of_two_and_refuses_overwrite(pod, flavor, tmp_path):
    r, u = run(pod, flavor, tmp_path, "--name=a", "--exec=/bin/true", "---", BUSYBOX_ACI, "--name=b",
               "--exec", "/bin/sh", "--", "-c", "echo b > /b-was-here")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "b.aci"
    e = pod.run("export", u, str(out))
    assert e.returncode == 2 and "has 2 apps (a, b); name one with --app" in e.stderr, e.stderr
    assert pod.run("export", "--app=c", u, str(out)).returncode == 3
    pod.run("export", "--app=b", u, str(out), check=0)
    with tarfile.open(out) as t:
        assert "rootfs/b-was-here" in t.getnames()
    before = out.read_bytes()
    e = pod.run("export", "--app=a", u, str(out))
    assert e.returncode == 1 and "exists; use --overwrite" in e.stderr, e.stderr
    assert out.read_bytes() == before
    pod.run("export", "--app=a", "--overwrite", u, str(out), check=0)
    with tarfile.open(out) as t:
        assert "rootfs/b-was-here" not in t.getnames()
    assert [n for n in os.listdir(tmp_path) if ".tmp-" in n] == []


def test_export_refuses_a_running_pod(pod, flavor, tmp_path):
    p, u = start_pod(pod, flavor, "--exec", "/bin/sleep", "--", "1000")
    try:
        out = tmp_path / "running.aci"
        e = pod.run("export", u, str(out))
        assert e.returncode == 4 and "only an exited pod can be exported" in e.stderr, e.stderr
        assert not out.exists()
    finally:
        reap_pod(pod, p, u)


def test_export_in_copy_mode(pod, flavor, tmp_path):
    r, u = run(pod, flavor, tmp_path, "--exec", "/bin/sh", "--", "-c", "echo copied > /made", pod_flags=["--no-overlay"])
    assert r.returncode == 0, r.stderr
    out = tmp_path / "copy.aci"
    pod.run("export", u, str(out), check=0)
    with tarfile.open(out) as t:
        assert t.extractfile("rootfs/made").read() == b"copied\n"
