#!/usr/bin/env python3
"""Build the stage1-kvm initramfs: a cpio (newc) archive, optionally gzipped.

It holds /init (the static guest boot program), /etc/modules.order (absolute
paths in load order) and the kernel modules named on the command line together
with their dependencies, resolved with the kernel's modules.dep. Compressed
modules (.ko.xz, .ko.zst, .ko.gz) are decompressed here so the guest can load
them with a plain finit_module(2); their signatures are dropped (see
strip_signature). Modules that the kernel has built in
(modules.builtin) or that it does not have at all are skipped; --require makes
a missing module an error.
"""
import argparse
import gzip
import io
import json
import lzma
import os
import subprocess
import sys
import tempfile


def read_modules_dep(moddir):
    deps = {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            if ":" not in line:
                continue
            mod, rest = line.split(":", 1)
            deps[mod.strip()] = rest.split()
    return deps


def modname(path):
    base = os.path.basename(path)
    for ext in (".ko.xz", ".ko.zst", ".ko.gz", ".ko"):
        if base.endswith(ext):
            base = base[: -len(ext)]
            break
    return base.replace("-", "_")


def builtin_names(moddir):
    names = set()
    try:
        with open(os.path.join(moddir, "modules.builtin")) as f:
            for line in f:
                names.add(modname(line.strip()))
    except FileNotFoundError:
        pass
    return names


def decompress(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".gz"):
        return gzip.decompress(data)
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    return data


SIG_MAGIC = b"~Module signature appended~\n"


def strip_signature(data):
    """The module without its appended signature.

    The guest kernel would verify it (sha256 of the whole module, then RSA)
    on every load: under TCG that is most of the load time of a large module
    (fuse.ko: ~400 KB). It is not enforced (no CONFIG_MODULE_SIG_FORCE, no
    lockdown), and the modules come from the host's own kernel package."""
    if not data.endswith(SIG_MAGIC):
        return data
    # struct module_signature: 12 bytes ending in the big-endian sig_len.
    info = data[-len(SIG_MAGIC) - 12:-len(SIG_MAGIC)]
    sig_len = int.from_bytes(info[8:12], "big")
    return data[:-len(SIG_MAGIC) - 12 - sig_len]


def resolve(wanted, deps, builtin, require):
    by_name = {modname(p): p for p in deps}
    order, seen = [], set()

    def visit(path):
        if path in seen:
            return
        seen.add(path)
        for d in deps.get(path, []):
            visit(d)
        order.append(path)

    missing = []
    for w in wanted:
        n = w.replace("-", "_")
        if n in by_name:
            visit(by_name[n])
        elif n not in builtin:
            missing.append(w)
    if missing and require:
        sys.exit("mkinitramfs: modules not found: " + " ".join(missing))
    return order, missing


class Cpio:
    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name, mode, data=b"", nlink=1):
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join("%08X" % v for v in (
            self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
        self.ino += 1
        self.buf.write(hdr.encode() + name_b)
        self.buf.write(b"\0" * ((4 - (110 + len(name_b)) % 4) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * ((4 - len(data) % 4) % 4))

    def dir(self, name):
        self._entry(name, 0o040755, nlink=2)

    def file(self, name, data, mode=0o644):
        self._entry(name, 0o100000 | mode, data)

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def stripped(path):
    """The program without symbols (smaller initramfs, faster boot)."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "init")
        if subprocess.run(["strip", "--strip-all", "-o", out, path]).returncode == 0:
            with open(out, "rb") as f:
                return f.read()
    with open(path, "rb") as f:
        return f.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", required=True, help="static guest boot program, becomes /init")
    ap.add_argument("--kver", required=True)
    ap.add_argument("--moddir", help="default /lib/modules/KVER")
    ap.add_argument("--module", action="append", default=[], help="module to include (with deps)")
    ap.add_argument("--require", action="append", default=[], help="module that must exist")
    ap.add_argument("--mmio-module", action="append", default=[],
                    help="module loaded only on virtio-mmio machines (kernel parameter pod.mmio)")
    ap.add_argument("--net-module", action="append", default=[],
                    help="module loaded only when the pod has a network (kernel parameter pod.net)")
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--depfile")
    ap.add_argument("--info", help="write a JSON summary (kernel version, modules) here")
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()

    moddir = a.moddir or os.path.join("/lib/modules", a.kver)
    deps = read_modules_dep(moddir)
    builtin = builtin_names(moddir)
    order, _ = resolve(a.require, deps, builtin, True)
    more, missing = resolve(a.module, deps, builtin, False)
    for m in more:
        if m not in order:
            order.append(m)
    # Modules only some VMs load, each group listed in /etc/modules.<group>.
    groups = {}
    for group, names in (("mmio", a.mmio_module), ("net", a.net_module)):
        mods, _ = resolve(names, deps, builtin, False)
        groups[group] = [m for m in mods if m not in order]
    if missing:
        print("mkinitramfs: not available in %s (skipped): %s" % (a.kver, " ".join(missing)))

    c = Cpio()
    for d in ("dev", "proc", "sys", "pod", "newroot", "vols", "etc", "lib", "lib/modules"):
        c.dir(d)
    c.file("init", stripped(a.init), 0o755)
    c.dir("lib/modules/" + a.kver)
    listed = []
    inputs = [a.init]
    for rel in order:
        src = os.path.join(moddir, rel)
        inputs.append(src)
        dst = "lib/modules/%s/%s.ko" % (a.kver, modname(rel))
        c.file(dst, strip_signature(decompress(src)))
        listed.append("/" + dst)
    c.file("etc/modules.order", ("\n".join(listed) + "\n").encode())
    written = set(order)
    for group, mods in groups.items():
        listed_group = []
        for rel in mods:
            dst = "lib/modules/%s/%s.ko" % (a.kver, modname(rel))
            if rel not in written:
                src = os.path.join(moddir, rel)
                inputs.append(src)
                c.file(dst, strip_signature(decompress(src)))
                written.add(rel)
            listed_group.append("/" + dst)
        c.file("etc/modules." + group, ("\n".join(listed_group) + "\n").encode())
    data = c.finish()
    if a.gzip:
        data = gzip.compress(data, 6)
    tmp = a.output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, a.output)
    if a.info:
        with open(a.info, "w") as f:
            json.dump({"kver": a.kver, "modules": sorted(modname(m) for m in order)}, f)
            f.write("\n")
    if a.depfile:
        with open(a.depfile, "w") as f:
            f.write("%s: %s\n" % (a.output, " ".join(inputs)))


if __name__ == "__main__":
    main()
