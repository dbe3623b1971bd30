"""Image benchmarks for bench/run: `pod run` of an OCI image vs the same tree as an ACI, and
`pod fetch docker://` from a local registry vs `skopeo copy` and `podman pull` of the same image."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def umoci(*a):
    subprocess.run(["umoci", *a], check=True, capture_output=True, text=True)


def layout_from_rootfs(layout, tag, rootfs):
    """An OCI layout with image `tag`: one layer holding `rootfs` (copied), running /bin/true."""
    bundle = layout + ".bundle"
    if not os.path.exists(layout):
        umoci("init", "--layout", layout)
    umoci("new", "--image", f"{layout}:{tag}")
    umoci("unpack", "--image", f"{layout}:{tag}", bundle)
    shutil.rmtree(os.path.join(bundle, "rootfs"))
    shutil.copytree(rootfs, os.path.join(bundle, "rootfs"), symlinks=True)
    umoci("repack", "--image", f"{layout}:{tag}", bundle)
    shutil.rmtree(bundle)
    umoci("config", "--image", f"{layout}:{tag}", "--config.cmd", "/bin/true")


def derive(layout, base, tag, files):
    """Image `tag`: image `base` plus one layer holding files (rel -> bytes); the base's layers are shared."""
    bundle = layout + ".bundle"
    umoci("tag", "--image", f"{layout}:{base}", tag)
    umoci("unpack", "--image", f"{layout}:{tag}", bundle)
    for rel, data in files.items():
        p = os.path.join(bundle, "rootfs", rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    umoci("repack", "--image", f"{layout}:{tag}", bundle)
    shutil.rmtree(bundle)


def timed(n, setup, cmd, env=None):
    """Wall times of cmd, each after setup() and a sync (not timed): no variant waits for the write-back of
    what an earlier one wrote (pod's syncfs would, it covers the whole file system)."""
    out = []
    for _ in range(n):
        setup()
        os.sync()
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        out.append(time.perf_counter() - t0)
    return out


def case_oci_run(ctx, t, POD, STAGE1, timeit):
    case = "run OCI vs ACI"
    if os.geteuid() != 0 or not shutil.which("umoci"):
        return t.skip(case, "needs root and umoci")
    rootfs = ctx.busybox_rootfs()
    layout = os.path.join(ctx.tmp, "oci-run")
    layout_from_rootfs(layout, "t", rootfs)
    aci = os.path.join(ctx.tmp, "same-tree.aci")
    img = os.path.join(ctx.tmp, "same-tree")
    os.makedirs(img, exist_ok=True)
    with open(os.path.join(img, "manifest"), "w") as f:
        json.dump({"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/same-tree",
                   "app": {"exec": ["/bin/true"], "user": "0", "group": "0"}}, f)
    if not os.path.exists(os.path.join(img, "rootfs")):
        shutil.copytree(rootfs, os.path.join(img, "rootfs"), symlinks=True)
    ctx.pod("image", "build", "--overwrite", img, aci)
    base = [POD, "--dir", ctx.data, "run", "--insecure-options=image", f"--stage1-path={STAGE1['nspawn']}"]
    for v in (aci, f"oci:{layout}:t"):
        subprocess.run(base + [v], capture_output=True)  # warm: fetched, trees made
    t.add(case, "pod run ACI", timeit(base + [aci], ctx.n, ctx.warm))
    t.add(case, "pod run oci:DIR", timeit(base + [f"oci:{layout}:t"], ctx.n, ctx.warm), ref="pod run ACI", goal=1.05)
    t.add(case, "pod run NAME:TAG", timeit(base + ["oci-run:t"], ctx.n, ctx.warm), ref="pod run ACI", goal=1.05)


class Registry:
    """Debian's docker-registry on a loopback port, plain http (both sides pay the same)."""

    def __init__(self, tmp):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        cfg = os.path.join(tmp, "registry.yml")
        with open(cfg, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {tmp}/registry\n"
                    f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{self.port}\n")
        self.proc = subprocess.Popen(["docker-registry", "serve", cfg], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("docker-registry did not start")

    def push(self, layout, tag, name):
        subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}:{tag}",
                        f"docker://127.0.0.1:{self.port}/{name}"], check=True, capture_output=True)

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


def case_registry_fetch(ctx, t, POD):
    case = "fetch docker://"
    if os.geteuid() != 0 or not all(shutil.which(x) for x in ("docker-registry", "skopeo", "umoci")):
        return t.skip(case, "needs root, docker-registry, skopeo and umoci")
    mib = 8 if ctx.quick else 200
    n = 1 if ctx.quick else max(3, min(ctx.n, 5))
    base_root = os.path.join(ctx.tmp, "fetch-base")
    os.makedirs(os.path.join(base_root, "data"), exist_ok=True)
    for i in range(200):  # many files and one big one, incompressible
        with open(os.path.join(base_root, "data", f"f{i}"), "wb") as f:
            f.write(os.urandom(mib * (1 << 20) // 4 // 200))
    with open(os.path.join(base_root, "data", "big"), "wb") as f:
        f.write(os.urandom(mib * (1 << 20) * 3 // 4))
    layout = os.path.join(ctx.tmp, "fetch-oci")
    layout_from_rootfs(layout, "one", base_root)
    derive(layout, "one", "two", {"extra/new": os.urandom(mib * (1 << 20) // 20)})
    reg = Registry(ctx.tmp)
    try:
        reg.push(layout, "one", "bench/img:one")
        reg.push(layout, "two", "bench/img:two")
        ref = f"127.0.0.1:{reg.port}/bench/img"
        store = os.path.join(ctx.tmp, "fetch-store")
        dest = os.path.join(ctx.tmp, "fetch-skopeo")
        fresh = lambda p: (lambda: shutil.rmtree(p, ignore_errors=True))
        pod = [POD, "--dir", store, "fetch", "-q", "--insecure-options=http", f"docker://{ref}:one"]
        t.add(case, "skopeo copy", timed(n, fresh(dest), ["skopeo", "copy", "--src-tls-verify=false",
                                                          f"docker://{ref}:one", f"oci:{dest}:one"]))
        if shutil.which("podman"):
            rmi = lambda: subprocess.run(["podman", "rmi", "-f", f"{ref}:one"], capture_output=True)
            t.add(case, "podman pull", timed(n, rmi, ["podman", "pull", "-q", "--tls-verify=false", f"{ref}:one"]))
            rmi()
        peers = [r for r in t.rows if r["case"] == case and r["samples"]]
        fastest = min(peers, key=lambda r: sorted(r["samples"])[len(r["samples"]) // 2])["variant"]
        t.add(case, f"pod fetch ({mib} MiB)", timed(n, fresh(store), pod), ref=fastest, goal=1.0)
        # A second image on the same base: only its new layer (1/20 of the base) is fetched.
        second = [POD, "--dir", store, "fetch", "-q", "--insecure-options=http", f"docker://{ref}:two"]
        alone = timed(n, fresh(store), second)
        t.add(case, "pod fetch 2nd image alone", alone)

        def base_only():
            shutil.rmtree(store, ignore_errors=True)
            subprocess.run(pod, check=True, capture_output=True)
        t.add(case, "pod fetch 2nd after base", timed(n, base_only, second), ref="pod fetch 2nd image alone",
              goal=0.25, note="new layer is 1/20 of the image")
    finally:
        reg.close()
