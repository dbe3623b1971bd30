"""OCI image layouts built with umoci for the tests: a busybox base layer with a user by name, a layer
deleting a file (umoci writes a .wh. whiteout), and a layer with an opaque whiteout over /data."""
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
SCRIPT = "id; pwd; echo FOO=$FOO; ls /data; test -e /etc/gone && echo gone-visible; echo done"
EXPECTED = ["uid=1000(app) gid=1000(app)", "/srv/work", "FOO=bar", "new", "done"]


def umoci(*args, cwd=None):
    subprocess.run(["umoci", *args], check=True, capture_output=True, text=True, cwd=cwd, timeout=120)


def layer_tar(path, entries):
    """A plain tar of (name, bytes|None for a dir, extra pax headers) entries."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data, *pax in entries:
            ti = tarfile.TarInfo(name)
            if pax:
                ti.pax_headers = pax[0]
            if data is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o644
                t.addfile(ti, io.BytesIO(data))
    return path


def build_layout(base, tag="t1"):
    """An OCI layout at `base`/layout with image `tag`; returns the layout dir."""
    layout = os.path.join(base, "layout")
    bundle = os.path.join(base, "bundle")
    umoci("init", "--layout", layout)
    umoci("new", "--image", f"{layout}:{tag}")
    umoci("unpack", "--image", f"{layout}:{tag}", bundle)
    root = os.path.join(bundle, "rootfs")
    for d in ("bin", "etc", "data/old", "srv"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy(BUSYBOX, os.path.join(root, "bin", "busybox"))
    for tool in ("sh", "echo", "cat", "ls", "id", "pwd", "test"):
        os.symlink("busybox", os.path.join(root, "bin", tool))
    with open(os.path.join(root, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n")
    with open(os.path.join(root, "etc", "group"), "w") as f:
        f.write("root:x:0:\napp:x:1000:\n")
    for rel, text in (("data/old/f", "old\n"), ("etc/gone", "gone\n")):
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
    umoci("repack", "--image", f"{layout}:{tag}", bundle)
    shutil.rmtree(bundle)
    umoci("config", "--image", f"{layout}:{tag}", "--config.entrypoint", "/bin/sh", "--config.cmd", "-c",
          "--config.cmd", SCRIPT, "--config.env", "FOO=bar", "--config.workingdir", "/srv/work",
          "--config.user", "app", "--config.exposedports", "8080/tcp", "--config.volume", "/var/lib/data",
          "--config.label", "org.opencontainers.image.title=test")
    # Second layer: delete /etc/gone (umoci writes etc/.wh.gone).
    umoci("unpack", "--image", f"{layout}:{tag}", bundle)
    os.remove(os.path.join(bundle, "rootfs", "etc", "gone"))
    umoci("repack", "--image", f"{layout}:{tag}", bundle)
    shutil.rmtree(bundle)
    # Third layer: an opaque /data holding only "new".
    add_layer(layout, tag, [("data/.wh..wh..opq", b""), ("data/new", b"new\n")])
    return layout


def add_layer(layout, tag, entries, new_tag=None):
    path = layer_tar(os.path.join(os.path.dirname(layout), f"layer-{len(os.listdir(os.path.dirname(layout)))}.tar"),
                     entries)
    args = ["raw", "add-layer", "--image", f"{layout}:{tag}"]
    if new_tag:
        args += ["--tag", new_tag]
    umoci(*args, path)


def manifest_of(layout, tag):
    index = json.load(open(os.path.join(layout, "index.json")))
    for m in index["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return json.load(open(blob_path(layout, m["digest"])))
    raise KeyError(tag)


def blob_path(layout, digest):
    return os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1])


def config_id(layout, tag):
    return "sha256-" + manifest_of(layout, tag)["config"]["digest"].split(":", 1)[1]


def write_blob(layout, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with open(blob_path(layout, digest), "wb") as f:
        f.write(data)
    return digest


def add_compressed_layer(layout, tag, new_tag, entries, compress):
    """Image new_tag: tag plus a layer of entries compressed by `compress` ("zstd" or None), written by hand
    (umoci only writes gzip)."""
    tar_path = layer_tar(os.path.join(os.path.dirname(layout), f"raw-{new_tag}.tar"), entries)
    raw = open(tar_path, "rb").read()
    blob, media = raw, "application/vnd.oci.image.layer.v1.tar"
    if compress == "zstd":
        blob = subprocess.run(["zstd", "-q", "-c", tar_path], check=True, capture_output=True).stdout
        media += "+zstd"
    manifest = manifest_of(layout, tag)
    config = json.load(open(blob_path(layout, manifest["config"]["digest"])))
    config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(raw).hexdigest())
    cdata = json.dumps(config).encode()
    manifest["config"] = dict(manifest["config"], digest=write_blob(layout, cdata), size=len(cdata))
    manifest["layers"].append({"mediaType": media, "digest": write_blob(layout, blob), "size": len(blob)})
    mdata = json.dumps(manifest).encode()
    index = json.load(open(os.path.join(layout, "index.json")))
    index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "digest": write_blob(layout, mdata), "size": len(mdata),
                               "annotations": {"org.opencontainers.image.ref.name": new_tag}})
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
