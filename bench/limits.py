"""bench/run --only limits: what applying isolation costs `pod run /bin/true` (Documentation/isolation.md).

The same pod run without and with per-app limits, interleaved in one run: memory, cpu and pids limits (each
its own cgroup write, on v1 hosts also the pod's v1 cgroups, bound into the container) and a capability and a
seccomp set. The figure is the difference of the medians (goal <= 2 ms) and the ratio.
"""
import os
import statistics


def p10_of(s):
    s = sorted(s)
    return s[int(0.1 * (len(s) - 1))]


def case_limits(ctx, t, pod, stage1, busybox, timeit):
    case = "limits"
    if os.geteuid() != 0:
        return t.skip(case, "needs root")
    if not (os.path.exists(stage1["nspawn"]) and os.path.exists(busybox)):
        return t.skip(case, "stage1 or busybox image not built")
    ctx.pod("fetch", "--insecure-options=image", busybox)
    base = [pod, "--dir", ctx.data, "run", "--insecure-options=image", f"--stage1-path={stage1['nspawn']}", busybox,
            "--exec", "/bin/true"]
    variants = {
        "no limits": base,
        "memory+cpu+pids": base + ["--memory=256Mi", "--cpu=1", "--pids-limit=1000"],
        "caps+seccomp": base + ["--caps-remove=CAP_NET_RAW", "--seccomp=mode=remove,@swap,@reboot"],
    }
    samples = {k: [] for k in variants}
    # Interleaved rounds: a slow spell of the machine hits every variant alike.
    rounds = max(1, ctx.n // 5)
    for _ in range(rounds):
        for k, cmd in variants.items():
            samples[k] += timeit(cmd, max(1, ctx.n // rounds), 1 if not samples[k] else 0)
    t.add(case, "no limits", samples["no limits"])
    for k in ("memory+cpu+pids", "caps+seccomp"):
        t.add(case, k, samples[k], ref="no limits")
        diff = (statistics.median(samples[k]) - statistics.median(samples["no limits"])) * 1000
        # The 10th percentiles too: on a loaded machine they move less than the medians.
        p10 = (p10_of(samples[k]) - p10_of(samples["no limits"])) * 1000
        t.add(case, k + " - no limits", value=diff,
              note=f"p10 difference {p10:.2f} ms; goal <= 2 ms: " + ("met" if diff <= 2 else "MISSED"))
