#!/usr/bin/env python3
"""Time a command N times (after W warm-up runs); print the per-run seconds as JSON.

Used by bench/run, also inside `unshare -m` wrappers so that set-up (e.g. crun's cgroup workaround) is not
timed. Command lines may contain {i}, replaced by the run index (unique container names).
"""
import json
import subprocess
import sys
import time


def main():
    n, warm = int(sys.argv[1]), int(sys.argv[2])
    cmd = sys.argv[sys.argv.index("--") + 1:]
    times = []
    for i in range(warm + n):
        argv = [a.replace("{i}", str(i)) for a in cmd]
        t0 = time.perf_counter()
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            sys.stderr.write(f"timeloop: {' '.join(argv)} exited {r.returncode}: {r.stderr.decode()[-2000:]}\n")
            sys.exit(1)
        if i >= warm:
            times.append(dt)
    json.dump(times, sys.stdout)


if __name__ == "__main__":
    main()
