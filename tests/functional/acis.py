"""Helpers for image tests: build ACIs (good and hostile) with tarfile."""
import io
import json
import os
import tarfile

BUILD = os.environ.get("POD_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
BUSYBOX_ACI = os.path.join(BUILD, "images", "busybox.aci")


def manifest(name="example.com/test", **extra):
    m = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": name,
         "labels": [{"name": "version", "value": "1.0"}, {"name": "os", "value": "linux"},
                    {"name": "arch", "value": "amd64"}]}
    m.update(extra)
    return m


def _info(name, type=tarfile.REGTYPE, size=0, mode=0o644, **kw):
    ti = tarfile.TarInfo(name)
    ti.type = type
    ti.size = size
    ti.mode = mode
    ti.mtime = 1700000000
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


def write_aci(path, entries, mode="w"):
    """entries: list of (TarInfo, bytes-or-None)."""
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return path


def file_entry(name, data=b"", mode=0o644, **kw):
    return (_info(name, size=len(data), mode=mode, **kw), data)


def dir_entry(name, mode=0o755):
    return (_info(name, type=tarfile.DIRTYPE, mode=mode), None)


def symlink_entry(name, target):
    return (_info(name, type=tarfile.SYMTYPE, linkname=target, mode=0o777), None)


def hardlink_entry(name, target):
    return (_info(name, type=tarfile.LNKTYPE, linkname=target), None)


def device_entry(name, major=1, minor=3):
    return (_info(name, type=tarfile.CHRTYPE, devmajor=major, devminor=minor, mode=0o666), None)


def manifest_entry(m=None):
    data = json.dumps(m or manifest()).encode()
    return file_entry("manifest", data)


def simple_aci(path, name="example.com/test", files=None, m=None, mode="w"):
    files = files or {"hello": b"hello\n"}
    entries = [manifest_entry(m or manifest(name)), dir_entry("rootfs")]
    for n, d in files.items():
        entries.append(file_entry("rootfs/" + n, d))
    return write_aci(path, entries, mode)


def busybox_variant(path, name, app=None, manifest_extra=None, extra_files=None):
    """The busybox example image under another name: `app` keys update its app section, `manifest_extra` its
    manifest, `extra_files` ({path under rootfs: bytes}) are added."""
    with tarfile.open(BUSYBOX_ACI) as src, tarfile.open(path, "w") as dst:
        for ti in src.getmembers():
            data = src.extractfile(ti).read() if ti.isfile() else None
            if ti.name == "manifest":
                m = json.loads(data)
                m["name"] = name
                m.setdefault("app", {"exec": ["/bin/sh"], "user": "0", "group": "0"}).update(app or {})
                m.update(manifest_extra or {})
                data = json.dumps(m).encode()
                ti.size = len(data)
            dst.addfile(ti, io.BytesIO(data) if data is not None else None)
        for n, d in (extra_files or {}).items():
            ti, d = file_entry("rootfs/" + n, d, mode=0o755)
            dst.addfile(ti, io.BytesIO(d))
    return path
