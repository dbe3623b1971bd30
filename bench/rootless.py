"""bench/run case `rootless`: an unprivileged user's `pod run /bin/true` (native stage1, user namespace from
/etc/subuid) vs the same user's `podman run` (crun) of the same busybox rootfs, each with its own network
namespace and no network (and, where both can, pasta's user-mode network). Goal: <= 0.5x podman."""
import os
import pwd
import shutil
import subprocess
import tarfile

USER = "podbench"


def _user(ctx):
    subprocess.run(["userdel", "-r", USER], capture_output=True)
    subprocess.run(["useradd", "-m", "-s", "/bin/sh", USER], check=True, capture_output=True)
    pw = pwd.getpwnam(USER)
    run_dir = os.path.join(pw.pw_dir, "run")
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    os.chown(run_dir, pw.pw_uid, pw.pw_gid)
    env = ["env", "-i", f"PATH={os.environ.get('PATH', '/usr/bin:/bin')}", f"HOME={pw.pw_dir}",
           f"XDG_RUNTIME_DIR={run_dir}", "LANG=C.UTF-8"]
    prefix = ["setpriv", "--reuid", USER, "--regid", str(pw.pw_gid), "--init-groups", *env]
    # timeit() runs its loop with this process's python, which may be out of the user's reach: Debian's.
    timed = [*prefix, "sh", "-c", 'shift; exec /usr/bin/python3 "$@"', "sh"]
    return pw, prefix, timed


def case_rootless(ctx, t, pod, stage1, busybox_aci, timeit):
    """podman 4.3 (Debian 12) has no pasta network: its rootless default, slirp4netns, is the peer of pod's
    pasta. crun 1.8 refuses this hybrid host's cgroups unless cgroup.controllers looks empty: podman runs in
    ctx.peer_wrap()'s mount namespace (made as root, then the user), as in case run."""
    case = "rootless run /bin/true"
    if os.geteuid() != 0:
        return t.skip(case, "creates its user: needs root")
    for tool in ("useradd", "setpriv", "newuidmap"):
        if not shutil.which(tool):
            return t.skip(case, f"{tool} is not installed (uidmap, passwd)")
    if not (os.path.exists(stage1["native"]) and os.path.exists(busybox_aci)):
        return t.skip(case, "native stage1 or busybox image not built")
    pw, prefix, timed = _user(ctx)
    try:
        store = os.path.join(pw.pw_dir, "store")
        rootfs = os.path.join(pw.pw_dir, "rootfs")
        subprocess.run([*prefix, "mkdir", "-p", rootfs], check=True)
        subprocess.run([*prefix, "tar", "-xf", busybox_aci, "-C", rootfs, "--strip-components=1", "rootfs"], check=True)
        base = [pod, "--dir", store, "run", "--insecure-options=image", f"--stage1-path={stage1['native']}"]
        variants = [(f"pod run --net={n}", base + [f"--net={n}", busybox_aci, "--exec", "/bin/true"],
                     f"podman --network={peer}", ()) for n, peer in (("none", "none"), ("pasta", "slirp4netns"))]
        if shutil.which("podman"):
            # As this user would run it: no systemd here, so cgroupfs (podman makes no cgroup for a rootless
            # container on cgroup v1).
            pm = ["podman", "--cgroup-manager", "cgroupfs", "run", "--rm", "--rootfs", rootfs]
            variants += [(f"podman --network={n}", pm[:4] + ["--network", n] + pm[4:] + ["/bin/true"], None,
                          ctx.peer_wrap()) for n in ("none", "slirp4netns")]
        else:
            t.add(case, "podman", note="podman is not installed: no ratio")
        for name, cmd, ref, wrap in variants:
            w = subprocess.run([*wrap, *prefix, *cmd], capture_output=True, text=True)  # warm the store and the caches
            if w.returncode != 0:
                t.add(case, name, note=f"failed: {w.stderr.strip()}"[:200])
                continue
            try:
                t.add(case, name, timeit(cmd, ctx.n, ctx.warm, [*wrap, *timed]), ref=ref, goal=0.5 if ref else None)
            except RuntimeError as e:
                t.add(case, name, note=f"failed: {e}"[:200])
    finally:
        subprocess.run([*prefix, pod, "--dir", os.path.join(pw.pw_dir, "store"), "gc", "--grace-period=0"],
                       capture_output=True)
        subprocess.run(["pkill", "-KILL", "-u", USER], capture_output=True)
        subprocess.run(["userdel", "-r", USER], capture_output=True)
