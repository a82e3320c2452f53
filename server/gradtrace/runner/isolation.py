"""Which isolation this host gives runs, chosen by trying it.

Every run gets a sandbox of its own (sandbox.py): PID, mount, network, IPC and UTS namespaces, a
private /tmp, a read-only root, no capabilities, and, when the server is root, a uid no other run
shares. Where bubblewrap works, the zygote itself also lives in one: no network, a read-only root
and its own PID namespace, so even the warm process that forks runs never sees the server.

Where namespaces do not work at all (macOS, a locked-down kernel), runs are only separate
processes: the server says so loudly and refuses to listen beyond loopback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from gradtrace.runner import linux, sandbox, seccomp

_BWRAP_ARGS = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
               "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
               "--die-with-parent", "--new-session"]


@dataclass(frozen=True)
class Isolation:
    sandbox: str = "none"  # sandbox.py's mode ("root", "userns"), or "none"
    prefix: tuple[str, ...] = ()  # the bubblewrap command line the zygote starts under, if any
    problems: tuple[str, ...] = ()  # why something stronger was not used
    landlock: bool = False  # whether the kernel lets runs be confined to the files they need

    @property
    def sandboxed(self) -> bool:
        return self.sandbox != "none"

    def prefix_for(self, device: str) -> tuple[str, ...]:
        """The bubblewrap command line a worker for ``device`` starts under: a CUDA worker's
        also binds in the NVIDIA device nodes, and nothing else of the host's /dev. CPU workers
        see no GPU at all."""
        if not self.prefix or device != "cuda":
            return self.prefix
        return (*self.prefix, *gpu_binds())

    def describe(self) -> str:
        if not self.sandboxed:
            return "none: runs are plain processes of the server's user (namespaces unavailable)"
        who = ("a uid of its own per run" if self.sandbox == "root"
               else "the server's user, mapped to nobody")
        outer = "bubblewrap around the zygote; " if self.prefix else ""
        files = ", other files closed by Landlock" if self.landlock else ""
        return (f"{outer}per-run namespaces (own PID, mount, network), no network, read-only "
                f"root, private /tmp, {who}{files}")


def detect(use_bwrap: bool = True) -> Isolation:
    """The strongest isolation that works here, each candidate proven by a probe run."""
    problems = [] if seccomp.available() else [
        "libseccomp is not installed (apt-get install libseccomp2): runs may use kernel "
        "keyrings, AIO, io_uring, userfaultfd, perf events and bpf"]
    mode = "root" if os.geteuid() == 0 else "userns"
    landlock = linux.available() and linux.landlock_abi() > 0
    bwrap = shutil.which("bwrap") if use_bwrap else None
    if bwrap:
        prefix = (bwrap, *bwrap_args())
        problem = _probe(prefix, mode)
        if problem is None:
            return Isolation(mode, prefix, tuple(problems), landlock)
        problems.append(f"bubblewrap: {problem}")
    elif use_bwrap:
        problems.append("bubblewrap is not installed (apt-get install bubblewrap)")
    problem = _probe((), mode)
    if problem is None:
        return Isolation(mode, (), tuple(problems), landlock)
    problems.append(f"namespaces: {problem}")
    return Isolation("none", (), tuple(problems))


def bwrap_args() -> list[str]:
    """A root server stays root in the outer sandbox (no user namespace), so that each run can
    become a real uid of its own inside: `nobody` inside is never root outside."""
    args = list(_BWRAP_ARGS)
    if os.geteuid() == 0:
        args += ["--cap-add", "ALL"]  # for the zygote to make each run's sandbox
    else:
        args += ["--unshare-user"]
    return args + _rebind_under_tmp()


def gpu_binds(nodes: list[str] | None = None) -> list[str]:
    """bubblewrap's arguments that bind ``nodes`` (the host's NVIDIA nodes) into its /dev. The
    driver's libraries need nothing: the root is bound in whole, read-only."""
    return [arg for node in (sandbox.gpu_nodes() if nodes is None else nodes)
            for arg in ("--dev-bind", node, node)]


def _rebind_under_tmp() -> list[str]:
    """The sandbox gets a private /tmp; an interpreter, virtual environment or checkout that
    lives under /tmp is bound back in, read-only."""
    under_tmp = [p for p in sandbox.needed_paths() if p.startswith("/tmp/")]
    return [arg for root in under_tmp for arg in ("--ro-bind", root, root)]


def _probe(prefix: tuple[str, ...], mode: str) -> str | None:
    """None when a sandbox of ``mode`` can be made under ``prefix``; else what went wrong."""
    command = [*prefix, sys.executable, "-m", "gradtrace.runner.probe", mode]
    try:
        result = subprocess.run(command, capture_output=True, timeout=30, text=True,
                                stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if result.returncode == 0 and result.stdout.strip() == "sandboxed":
        return None
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"
