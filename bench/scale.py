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


class Started:
    """n pods started at once: `seconds` until every one was ready; stop() stops them all."""

    def __init__(self, ctx, seconds, uuids, procs):
        self.ctx, self.seconds, self.uuids, self.procs = ctx, seconds, uuids, procs

    def stop(self):
        for u in self.uuids:
            self.ctx.pod("stop", "--force", u, check=False)
        for p in self.procs:
            p.wait()


def pods_at_once(ctx, pod, stage1, image, n):
    """Start n `pod run`s at once and wait until each pod says it is ready (every app started)."""
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
        return Started(ctx, time.perf_counter() - t0, list(uuids.values()), procs)
    except BaseException:
        Started(ctx, 0, list(uuids.values()), procs).stop()
        raise


def latency(cmd, runs=5):
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        samples.append(time.perf_counter() - t0)
    return samples


def case_scale(ctx, t, pod, stage1s, image):
    case = "start N pods at once"
    if os.geteuid() != 0 or not os.path.exists(image):
        return t.skip(case, "needs root and the built busybox image")
    n = 5 if ctx.quick else 200
    ctx.pod("fetch", "--insecure-options=image", image)
    for flavor in ("native", "nspawn"):
        if not os.path.exists(stage1s[flavor]):
            continue
        try:
            started = pods_at_once(ctx, pod, stage1s[flavor], image, n)
        except RuntimeError as e:
            t.add(case, f"{n} pod runs ({flavor})", note=f"failed: {e}"[:200])
            continue
        try:
            t.add(case, f"{n} pod runs ({flavor})", [started.seconds],
                  ref=f"{n} crun runs" if flavor == "native" else None, goal=1.5 if flavor == "native" else None)
            if flavor == "native":
                list_cmd = [pod, "--dir", ctx.data, "list", "--format=json"]
                t.add(case, f"pod list, {n} running", latency(list_cmd))
                t.add(case, f"pod status, {n} running", latency([pod, "--dir", ctx.data, "status", started.uuids[0]]))
        finally:
            started.stop()
    idle = 10 if ctx.quick else 1000
    if os.path.exists(stage1s["native"]):
        try:
            started = pods_at_once(ctx, pod, stage1s["native"], image, idle)
            try:
                t.add(case, f"{idle} idle pods (native): all ready", [started.seconds])
                t.add(case, f"pod list, {idle} running", latency([pod, "--dir", ctx.data, "list", "--format=json"]))
            finally:
                started.stop()
        except RuntimeError as e:
            t.add(case, f"{idle} idle pods (native)", note=f"failed: {e}"[:200])
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
