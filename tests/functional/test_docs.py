"""Man pages and shell completion, generated from pod's own command definitions (stage0/cmd_docs.cpp)."""
import os
import shutil
import subprocess

import pytest

from conftest import BUILD, POD_BIN
from runhelpers import BUSYBOX_ACI

STAGE0 = os.path.join(BUILD, "stage0")


def verbs():
    """The commands `pod --help` lists."""
    out = subprocess.run([POD_BIN, "--help"], capture_output=True, text=True).stdout
    section = out.split("Subcommands:", 1)[1]
    return [l.split()[0] for l in section.splitlines() if l.startswith("  ") and l.split()[0] != "help"]


def test_a_man_page_for_every_command_is_built():
    listed = subprocess.run([POD_BIN, "man", "--list"], capture_output=True, text=True, check=True).stdout.split()
    built = sorted(f for f in os.listdir(STAGE0) if f.endswith(".1"))
    assert sorted(listed) == built  # stage0/meson.build's list is what pod generates
    for v in verbs():
        assert f"pod-{v}.1" in listed, v
    assert {"pod-image-rm.1", "pod-trust-list.1", "pod.1"} <= set(listed)


@pytest.mark.skipif(not shutil.which("man"), reason="man is not installed (scripts/install-deps)")
def test_man_pages_render():
    env = {k: v for k, v in os.environ.items() if k != "MAN_KEEP_FORMATTING"}
    env["MANWIDTH"] = "200"
    out = subprocess.run(["man", "-l", os.path.join(STAGE0, "pod-run.1")], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "pod-run - Prepare and run a pod" in text
    assert "--volume VALUE" in text and "--insecure-options VALUE" in text
    top = subprocess.run(["man", "-l", os.path.join(STAGE0, "pod.1")], capture_output=True, text=True, env=env).stdout
    assert "pod-image(1)" in top and "EXIT STATUS" in top and "POD_DIR" in top


def bash_complete(line, datadir):
    """COMPREPLY of the generated bash completion for `line` (completing its last word)."""
    script = os.path.join(STAGE0, "completion", "pod")
    prog = f"""
source {script}
read -ra COMP_WORDS <<< "$LINE"
[[ $LINE == *' ' ]] && COMP_WORDS+=("")
COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))
_pod
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    env = dict(os.environ, LINE=line, PATH=STAGE0 + ":" + os.environ["PATH"])
    r = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def test_bash_completes_verbs_flags_pods_and_images(pod):
    d = pod.dir
    assert bash_complete("pod im", d) == {"image"}
    assert {"list", "rm", "gc", "verify", "render"} <= bash_complete("pod image ", d)
    assert bash_complete("pod run --vol", d) == {"--volume"}
    assert "--format" in bash_complete("pod --dir x list --fo", d)
    [uuid] = pod.fixture("prepared")
    assert uuid in bash_complete(f"pod --dir {d} status ", d)
    if os.path.exists(BUSYBOX_ACI):
        pod.run("fetch", "--insecure-options=image", BUSYBOX_ACI, check=0)
        names = bash_complete(f"pod --dir {d} image rm ", d)
        assert any(n.startswith("example.com/busybox") for n in names), names


@pytest.mark.skipif(not shutil.which("fish"), reason="fish is not installed (scripts/install-deps)")
def test_fish_completes_verbs_and_flags(pod):
    script = os.path.join(STAGE0, "completion", "pod.fish")
    env = dict(os.environ, PATH=STAGE0 + ":" + os.environ["PATH"], HOME=pod.dir)

    def complete(line):
        r = subprocess.run(["fish", "--no-config", "-c", f"source {script}; complete -C '{line}'"],
                           capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        return {l.split("\t")[0] for l in r.stdout.splitlines()}

    assert "image" in complete("pod im")
    assert {"list", "rm", "verify"} <= complete("pod image ")
    assert "--volume" in complete("pod run --vol")


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed (scripts/install-deps)")
def test_zsh_script_loads():
    script = os.path.join(STAGE0, "completion", "_pod")
    r = subprocess.run(["zsh", "-f", "-c", f"autoload -U compinit && compinit -u; source {script}; whence -w _pod"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "_pod: function" in r.stdout, r.stdout + r.stderr
