"""bench/run --only limits: what applying isolation costs `pod run /bin/true` (Documentation/isolation.md).

The same pod run without and with per-app limits, on the native and the nspawn flavour: memory, cpu and pids
limits (each its own cgroup write, on v1 hosts also the pod's v1 cgroups) and a capability and a seccomp set.
The variants run interleaved run by run, so a slow spell of the machine hits them alike. Each run is timed in
wall time and in CPU time (user + system of the whole process tree, from RUSAGE_CHILDREN: every stage1
process is waited for by its parent, so its time reaches pod's and then ours). The figure is the difference
of the medians (goal <= 2 ms); CPU time is what the limits add in work, and it moves much less than wall time
on a loaded machine.
"""
import os
import resource
import statistics
import subprocess
import time


def p10_of(s):
    s = sorted(s)
    return s[int(0.1 * (len(s) - 1))]


def run_once(cmd):
    """(wall seconds, CPU seconds of the process tree) of one run of cmd."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.decode()[-800:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def case_limits(ctx, t, pod, stage1, busybox, timeit):
    del timeit  # this case times in-process, so that every run also gives its CPU time
    case = "limits"
    if os.geteuid() != 0:
        return t.skip(case, "needs root")
    flavors = [f for f in ("native", "nspawn") if os.path.exists(stage1[f])]
    if not flavors or not os.path.exists(busybox):
        return t.skip(case, "stage1 or busybox image not built")
    ctx.pod("fetch", "--insecure-options=image", busybox)
    extra = {
        "no limits": [],
        "memory+cpu+pids": ["--memory=256Mi", "--cpu=1", "--pids-limit=1000"],
        "caps+seccomp": ["--caps-remove=CAP_NET_RAW", "--seccomp=mode=remove,@swap,@reboot"],
    }
    for flavor in flavors:
        base = [pod, "--dir", ctx.data, "run", "--insecure-options=image", f"--stage1-path={stage1[flavor]}",
                busybox, "--exec", "/bin/true"]
        wall = {k: [] for k in extra}
        cpu = {k: [] for k in extra}
        for i in range(ctx.warm + ctx.n):
            for k, flags in extra.items():
                w, c = run_once(base + flags)
                if i >= ctx.warm:
                    wall[k].append(w)
                    cpu[k].append(c)
        ctx.pod("gc", "--grace-period=0")
        for label, samples in (("wall", wall), ("cpu", cpu)):
            ref = f"{flavor} no limits, {label}"
            t.add(case, ref, samples["no limits"])
            for k in ("memory+cpu+pids", "caps+seccomp"):
                t.add(case, f"{flavor} {k}, {label}", samples[k], ref=ref)
                diff = (statistics.median(samples[k]) - statistics.median(samples["no limits"])) * 1000
                p10 = (p10_of(samples[k]) - p10_of(samples["no limits"])) * 1000
                t.add(case, f"{flavor} {k} - no limits, {label}", value=diff,
                      note=f"p10 difference {p10:.2f} ms; goal <= 2 ms: " + ("met" if diff <= 2 else "MISSED"))
