#!/usr/bin/env python3
"""Scale: N pods started at once, wall time until every one is running, against N crun containers.

Used by bench/run (case "scale"); also run as a script inside crun's mount-namespace wrapper:

    scale.py crun N BUNDLE     start N containers of BUNDLE at once (crun run --detach), print the seconds
                               until all have started, then kill and delete them
"""
import json
import os
import subprocess
import sys
import time


def crun_main(n, bundle):
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["crun", "run", "--detach", "--bundle", bundle, f"scale-{i}"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for i in range(n)]
    failed = [p.stderr.read().decode()[-300:] for p in procs if p.wait() != 0]
    dt = time.perf_counter() - t0
    for i in range(n):
        subprocess.run(["crun", "kill", f"scale-{i}", "KILL"], capture_output=True)
    for i in range(n):
        subprocess.run(["crun", "delete", "--force", f"scale-{i}"], capture_output=True)
    if failed:
        sys.exit(f"scale: {len(failed)} of {n} crun containers failed: {failed[0]}")
    json.dump([dt], sys.stdout)


def pods_at_once(ctx, pod, stage1, image, n):
    """Seconds from starting n `pod run`s at once until each pod says it is ready (every app started)."""
    ufs = [os.path.join(ctx.tmp, f"scale-{time.monotonic_ns()}-{i}") for i in range(n)]
    t0 = time.perf_counter()
    procs = [subprocess.Popen([pod, "--dir", ctx.data, "run", "--insecure-options=image", f"--stage1-path={stage1}",
                               f"--uuid-file-save={uf}", image, "--exec", "/bin/sleep", "--", "600"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for uf in ufs]
    uuids = {}
    try:
        # Each pod's `ready` file (every app started, Documentation/stage1-abi.md), polled directly: a `pod status`
        # per pod would add its own start-up to the measurement.
        while len(uuids) < n or not all(os.path.exists(os.path.join(ctx.data, "pods", "run", u, "ready"))
                                        for u in uuids.values()):
            for uf, p in zip(ufs, procs):
                if uf not in uuids and os.path.exists(uf) and open(uf).read().strip():
                    uuids[uf] = open(uf).read().strip()
                elif p.poll() is not None:
                    raise RuntimeError(f"a pod run exited {p.returncode} before its pod was ready")
            if time.perf_counter() - t0 > 600:
                raise RuntimeError("pods not ready after 600 s")
            time.sleep(0.005)
        return time.perf_counter() - t0
    finally:
        for u in uuids.values():
            ctx.pod("stop", "--force", u, check=False)
        for p in procs:
            p.wait()


def case_scale(ctx, t, pod, stage1s, image):
    case = "start N pods at once"
    if os.geteuid() != 0 or not os.path.exists(image):
        return t.skip(case, "needs root and the built busybox image")
    n = 5 if ctx.quick else 200
    ctx.pod("fetch", "--insecure-options=image", image)
    for flavor in ("native", "nspawn"):
        if os.path.exists(stage1s[flavor]):
            try:
                t.add(case, f"{n} pod runs ({flavor})", [pods_at_once(ctx, pod, stage1s[flavor], image, n)],
                      ref=f"{n} crun runs" if flavor == "native" else None, goal=1.5 if flavor == "native" else None)
            except RuntimeError as e:
                t.add(case, f"{n} pod runs ({flavor})", note=f"failed: {e}"[:200])
    if not subprocess.run(["sh", "-c", "command -v crun"], capture_output=True).returncode == 0:
        return t.skip(case, "crun is not installed")
    bundle = ctx.crun_bundle("scale", ["/bin/sleep", "600"])
    r = subprocess.run([*ctx.peer_wrap(), sys.executable, os.path.abspath(__file__), "crun", str(n), bundle],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return t.add(case, f"{n} crun runs", note=f"failed: {r.stderr.strip()}"[:200])
    t.add(case, f"{n} crun runs", json.loads(r.stdout))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "crun":
        crun_main(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit(__doc__)
