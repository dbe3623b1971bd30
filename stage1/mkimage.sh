#!/bin/sh
# Assembles the stage1 image: <rootfs-dir> (a plain tree tests use directly)
# and <aci> (tar of manifest + rootfs/, reproducible: sorted, numeric owners,
# fixed mtime).
#   mkimage.sh <aci> <rootfs-dir> <manifest> <init> <entrypoint>...
# The init goes to /init, the entrypoints to /bin/<name>: not to /run, where
# systemd-nspawn mounts a tmpfs.
set -eu
aci=$1 rootfs=$2 manifest=$3
shift 3
staging=$(mktemp -d "$(dirname "$aci")/.stage1-XXXXXX")
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/rootfs"
for d in bin dev proc sys etc usr pod opt/stage2 host-volumes; do mkdir -p "$staging/rootfs/$d"; done
install -m 0755 "$1" "$staging/rootfs/init"
shift
for f in "$@"; do install -m 0755 "$f" "$staging/rootfs/bin/$(basename "$f")"; done
# No debug info in the image (18 MB -> 3 MB): every data dir imports and renders it.
strip "$staging/rootfs/init" "$staging"/rootfs/bin/* 2>/dev/null || true
# systemd-nspawn refuses a tree without /usr; os-release names it.
printf 'ID=pod-stage1\nNAME="pod stage1 (%s)"\n' "${POD_STAGE1_FLAVOR:-nspawn}" > "$staging/rootfs/etc/os-release"
install -m 0644 "$manifest" "$staging/manifest"
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$staging" -cf "$aci.tmp" manifest rootfs
mv "$aci.tmp" "$aci"
rm -rf "$rootfs"
mv "$staging/rootfs" "$rootfs"
