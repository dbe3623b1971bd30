#!/usr/bin/env python3
"""Assemble the stage1-kvm image: a directory (manifest + rootfs/) in the
build tree for tests, and the ACI (a tar of the same, made with GNU tar
--numeric-owner --sort=name so that it is reproducible)."""
import argparse
import json
import os
import shutil
import subprocess


# What --stage1-opt NAME=VALUE this stage1 takes (Documentation/stage1-kvm.md);
# stage0 checks given values against this list when it prepares a pod.
ISOLATORS = ["resource/memory", "resource/cpu", "resource/pids", "os/linux/cpu-shares",
             "os/linux/capabilities-retain-set", "os/linux/capabilities-remove-set", "os/linux/no-new-privileges",
             "os/linux/seccomp-retain-set", "os/linux/seccomp-remove-set", "os/linux/oom-score-adj"]

OPTIONS = [
    {"name": "hypervisor", "type": "enum", "values": ["auto", "qemu", "lkvm"], "default": "auto",
     "help": "the VMM: qemu, lkvm (kvmtool), or auto (lkvm when on PATH and KVM works, else qemu)"},
    {"name": "accel", "type": "enum", "values": ["auto", "kvm", "tcg"], "default": "auto",
     "help": "hardware virtualisation (kvm), software emulation (tcg), or auto (kvm when it really works)"},
    {"name": "cpus", "type": "int", "min": 1, "max": 64,
     "help": "virtual CPUs; default enough for the apps' cpu limits together, at least 1"},
    {"name": "memory", "type": "size",
     "help": "guest RAM (k/M/G, Ki/Mi/Gi); default 128 MiB plus the apps' memory limits"},
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outdir", required=True, help="image directory (manifest + rootfs/)")
    ap.add_argument("--aci", required=True)
    ap.add_argument("--init", required=True, help="the pod init, becomes /init")
    ap.add_argument("--host", required=True, help="the host entrypoints binary")
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--initrd-info", required=True)
    ap.add_argument("--version", required=True)
    a = ap.parse_args()

    out = a.outdir
    if os.path.exists(out):
        shutil.rmtree(out)
    root = os.path.join(out, "rootfs")
    os.makedirs(os.path.join(root, "kvm"))
    os.makedirs(os.path.join(root, "opt", "stage2"))
    for d in ("dev", "proc", "sys", "run", "tmp", "pod"):
        os.makedirs(os.path.join(root, d))
    for src, dst in ((a.init, "init"), (a.host, "kvm/stage1-kvm")):
        dst = os.path.join(root, dst)
        if subprocess.run(["strip", "--strip-unneeded", "-o", dst, src]).returncode != 0:
            shutil.copy2(src, dst)
        os.chmod(dst, 0o755)
    for ep in ("run", "enter", "stop", "gc", "kill", "pause", "resume", "stats", "app-ops"):
        os.symlink("stage1-kvm", os.path.join(root, "kvm", ep))
    shutil.copyfile(a.kernel, os.path.join(root, "kvm", "vmlinuz"))
    shutil.copyfile(a.initrd, os.path.join(root, "kvm", "initramfs.img"))
    shutil.copyfile(a.initrd_info, os.path.join(root, "kvm", "initramfs.json"))
    manifest = {
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": "pod/stage1-kvm",
        "labels": [
            {"name": "version", "value": a.version},
            {"name": "arch", "value": "amd64"},
            {"name": "os", "value": "linux"},
        ],
        "annotations": [
            {"name": "pod/stage1/run", "value": "/kvm/run"},
            {"name": "pod/stage1/enter", "value": "/kvm/enter"},
            {"name": "pod/stage1/stop", "value": "/kvm/stop"},
            {"name": "pod/stage1/gc", "value": "/kvm/gc"},
            {"name": "pod/stage1/kill", "value": "/kvm/kill"},
            {"name": "pod/stage1/pause", "value": "/kvm/pause"},
            {"name": "pod/stage1/resume", "value": "/kvm/resume"},
            {"name": "pod/stage1/stats", "value": "/kvm/stats"},
            {"name": "pod/stage1/app-ops", "value": "/kvm/app-ops"},
            # Per-app READY=1 (appready/<app>, written by the guest agent): --after NAME:ready.
            {"name": "pod/stage1/app-ready", "value": "true"},
            {"name": "pod/stage1/rootless", "value": "true"},
            {"name": "pod/stage1/interface-version", "value": "1"},
            {"name": "pod/stage1/flavor", "value": "kvm"},
            {"name": "pod/stage1/options", "value": json.dumps(OPTIONS)},
            # What the pod init enforces in the guest (Documentation/isolation.md).
            {"name": "pod/stage1/isolators", "value": ",".join(ISOLATORS)},
            # The pod's CNI networks, through a tap per interface (Documentation/stage1-kvm.md).
            {"name": "pod/stage1/networks", "value": "cni"},
        ],
    }
    with open(os.path.join(out, "manifest"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    tmp = a.aci + ".tmp"
    subprocess.run(["tar", "--numeric-owner", "--sort=name", "--owner=0", "--group=0",
                    "--mtime=@0", "-C", out, "-cf", tmp, "manifest", "rootfs"], check=True)
    os.rename(tmp, a.aci)


if __name__ == "__main__":
    main()
