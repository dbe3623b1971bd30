#!/usr/bin/env python3
"""Writes the seed ACIs of the `extract` fuzz target to tests/fuzz/corpus/extract/.

The committed seeds were made with it; rerun it only to change them. Tars
end right after their end-of-archive blocks (no 10 KiB record padding) so the
fuzzer spends its bytes on headers. Crash inputs found later are added beside
these by hand, not by this script.
"""
import bz2
import gzip
import io
import json
import lzma
import os
import sys
import tarfile

tarfile.RECORDSIZE = 2 * tarfile.BLOCKSIZE

MANIFEST = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/seed",
            "labels": [{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}],
            "app": {"exec": ["/bin/sh"], "user": "0", "group": "0"}}


def tar(entries, fmt=tarfile.PAX_FORMAT):
    """entries: (name, type, extra) with type f/d/l/h/p; extra: data, link target or mode."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
        for name, kind, extra in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1767225600
            ti.mode = 0o755 if kind == "d" else 0o644
            data = None
            if kind == "f":
                data = extra.encode() if isinstance(extra, str) else extra
                ti.size = len(data)
            elif kind == "d":
                ti.type = tarfile.DIRTYPE
                if extra is not None:
                    ti.mode = extra
            elif kind == "l":
                ti.type, ti.linkname = tarfile.SYMTYPE, extra
            elif kind == "h":
                ti.type, ti.linkname = tarfile.LNKTYPE, extra
            elif kind == "p":
                ti.type = tarfile.FIFOTYPE
            elif kind == "c":
                ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def manifest(**extra):
    m = dict(MANIFEST)
    m.update(extra)
    return ("manifest", "f", json.dumps(m))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "extract")
    os.makedirs(out, exist_ok=True)
    base = [manifest(), ("rootfs", "d", None), ("rootfs/bin", "d", None), ("rootfs/bin/sh", "f", "#!echo\n")]
    full = [manifest(), ("rootfs", "d", None), ("rootfs/bin", "d", None),
            ("rootfs/bin/busybox", "f", b"\x7fELF" + b"\0" * 60),
            ("rootfs/bin/sh", "h", "rootfs/bin/busybox"), ("rootfs/bin/ls", "l", "busybox"),
            ("rootfs/etc", "d", 0o700), ("rootfs/etc/passwd", "f", "root:x:0:0::/:/bin/sh\n"),
            ("rootfs/run/fifo", "p", None), ("rootfs/tmp", "d", 0o1777), ("./rootfs/./usr//lib/", "d", None)]
    seeds = {
        "minimal.aci": tar(base),
        "ustar.aci": tar(base, tarfile.USTAR_FORMAT),
        "full.aci": tar(full),
        "full.aci.gz": gzip.compress(tar(full), mtime=0),
        "full.aci.bz2": bz2.compress(tar(full)),
        "full.aci.xz": lzma.compress(tar(full)),
        "whitelist.aci": tar([manifest(pathWhitelist=["/bin/sh", "/etc/passwd"]), ("rootfs", "d", None),
                              ("rootfs/bin/busybox", "f", "bb"), ("rootfs/bin/sh", "h", "rootfs/bin/busybox"),
                              ("rootfs/etc/passwd", "f", "root\n"), ("rootfs/etc/shadow", "f", "x")]),
        # Edge cases the extractor must refuse.
        "escape-symlink.aci": tar([manifest(), ("rootfs", "d", None), ("rootfs/up", "l", "../../outside"),
                                   ("rootfs/up/owned", "f", "x")]),
        "escape-dotdot.aci": tar([manifest(), ("rootfs/../outside/owned", "f", "x")]),
        "device.aci": tar([manifest(), ("rootfs/dev/null", "c", None)]),
        "no-manifest.aci": tar(base[1:]),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
