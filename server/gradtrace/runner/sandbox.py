"""One sandbox per run, made in the run's own freshly forked process and torn down with it.

``enter`` turns the calling process into three:

    supervisor   outside, the PID the zygote knows; mirrors how the run ended, then exits
      └ init     PID 1 of the run's own PID namespace; reaps orphans. When it exits, the kernel
        │        kills everything left in the namespace: no daemon outlives its run
        └ worker the snippet: its own user, no capabilities, no network, read-only root,
                 a private size-capped /tmp, not dumpable (nothing can ptrace it or read its memory)

Modes (``Plan.mode``):
- ``root``: the server runs as root. The worker becomes a uid of its own, which no other live
  run of its zygote shares (a spawned worker draws one at random: 1 in 16 million to collide).
  Directories other users cannot enter (/root, where pyenv and conda often live) are covered,
  and only the paths Python needs are bound back in, read-only.
- ``userns``: an unprivileged server. A user namespace maps the server's own uid to `nobody`;
  every run is the same host user, kept apart by PID namespaces and non-dumpability.
"""

from __future__ import annotations

import glob
import os
import secrets
import signal
import stat
import sys
from dataclasses import dataclass, field

from gradtrace.runner import linux, seccomp

RUN_UID_BASE = 1_400_000_000  # run uids: this plus up to 2**24, far above any real account
NOBODY = 65534
TMP_MB = 128  # the run's whole /tmp; RunLimits.file_mb bounds any one file
SHM_MB = 64
# Where Landlock exists, the worker may read only the system's own trees and what Python needs:
# not other users' homes, /srv, /var or a checkout of someone else's, however readable.
SYSTEM_FILES = {**{path: "read" for path in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
                                             "/libx32", "/etc", "/opt", "/proc", "/sys")},
                "/dev": "device", "/tmp": "write", "/dev/shm": "write"}
_NAMESPACES = (linux.CLONE_NEWNS | linux.CLONE_NEWPID | linux.CLONE_NEWNET | linux.CLONE_NEWIPC
               | linux.CLONE_NEWUTS)


@dataclass(frozen=True)
class Plan:
    mode: str  # "root" or "userns"
    hide: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())  # (covered dir, kept paths)
    tmp_kept: tuple[str, ...] = ()  # needed paths under /tmp, which the run's own /tmp covers
    readable: tuple[str, ...] = ()  # every path Python needs, wherever it lives
    masked: tuple[str, ...] = ()  # device nodes the run must not reach: /dev/null stands in


def random_run_uid() -> int:
    return RUN_UID_BASE + secrets.randbelow(1 << 24)


def plan_for_here(device: str = "cpu") -> Plan:
    """The plan for this process's user and this interpreter's files. Only a CUDA run reaches
    the GPU: elsewhere its device nodes are masked (under bubblewrap they are not there at all;
    without it, they are the host's)."""
    needed = needed_paths()
    under_tmp = tuple(p for p in needed if p.startswith("/tmp/"))
    masked = (*PTY_NODES, *(() if device == "cuda" else gpu_nodes()))
    if os.geteuid() != 0:
        return Plan("userns", tmp_kept=under_tmp, readable=tuple(needed), masked=masked)
    return Plan("root", hidden_homes(needed), under_tmp, tuple(needed), masked)


# The pseudo-terminal multiplexers: every pty opened is the host's (kernel.pty.max counts them
# all, a new devpts instance's too), and a run could hold them all. /dev/null stands in.
PTY_NODES = ("/dev/ptmx", "/dev/pts/ptmx")


def gpu_nodes() -> list[str]:
    """The NVIDIA device nodes here (nvidia0, nvidiactl, nvidia-uvm, ...), looked up each time:
    the driver makes some of them only when CUDA is first used."""
    return sorted(glob.glob("/dev/nvidia*"))


def needed_paths() -> list[str]:
    """What a run reads: this interpreter, its standard library and every import path, but not
    the directory the server was started in (`python -m` puts it on sys.path; it may be a home)."""
    import gradtrace

    wanted = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable),
              os.path.dirname(os.path.dirname(gradtrace.__file__)), *(p for p in sys.path if p)}
    wanted.discard(os.getcwd())
    real = sorted({os.path.realpath(p) for p in wanted if os.path.exists(p)})
    return [p for i, p in enumerate(real) if not any(p.startswith(q + "/") for q in real[:i])]


def hidden_homes(paths: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each top directory that other users cannot enter, with the needed paths beneath it."""
    covered: dict[str, list[str]] = {}
    for path in paths:
        parts = path.split("/")
        for i in range(2, len(parts)):
            ancestor = "/".join(parts[:i])
            if not os.stat(ancestor).st_mode & stat.S_IXOTH:
                covered.setdefault(ancestor, []).append(path)
                break
    return tuple((d, tuple(kept)) for d, kept in sorted(covered.items()))


def enter(plan: Plan, run_uid: int) -> None:
    """Sandbox the calling (single-threaded, freshly forked) process. Returns only in the
    worker; the supervisor and init exit with the run. ``run_uid`` is used in root mode."""
    outer_uid, outer_gid = os.geteuid(), os.getegid()
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)  # the supervisor dies with its parent
    linux.prctl(linux.PR_SET_DUMPABLE, 0)
    linux.unshare(_NAMESPACES | (linux.CLONE_NEWUSER if plan.mode == "userns" else 0))
    if plan.mode == "userns":
        _map_to_nobody(outer_uid, outer_gid)
    _mount_private_filesystem(plan)
    _split(_supervise)  # the supervisor stays outside; the child is PID 1 of the new namespace
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    linux.mount("proc", "/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
    _split(_init)
    _become_nobody(plan, run_uid)


def close_all_but(keep: tuple[int, ...]) -> None:
    """No descriptor of the zygote or the server reaches the snippet."""
    start = 3
    for fd in [*sorted(keep), 1 << 20]:
        os.closerange(start, fd)
        start = fd + 1


def _map_to_nobody(uid: int, gid: int) -> None:
    for name, text in (("setgroups", "deny"), ("uid_map", f"{NOBODY} {uid} 1"),
                       ("gid_map", f"{NOBODY} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def _mount_private_filesystem(plan: Plan) -> None:
    """Nothing this run mounts reaches the host; the root is read-only; /tmp and /dev/shm are
    its own small tmpfs; homes others cannot enter stay covered. What Python needs from a
    covered place (a checkout or venv under /tmp, pyenv under /root) is bound back in."""
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    linux.make_read_only("/")
    _cover("/tmp", plan.tmp_kept, f"size={TMP_MB}m,nr_inodes=16384,mode=1777", linux.MS_NOEXEC)
    for covered, kept in plan.hide:
        _cover(covered, kept, "mode=0755")
        linux.make_read_only(covered)
    if os.path.isdir("/dev/shm"):
        _cover("/dev/shm", (), f"size={SHM_MB}m,mode=1777", linux.MS_NOEXEC)
    for node in plan.masked:
        if not os.path.exists(node):
            continue
        if os.path.isdir(node):  # /dev/nvidia-caps
            _cover(node, (), "mode=0755")
        else:
            linux.mount("/dev/null", node, None, linux.MS_BIND)


def _cover(directory: str, kept: tuple[str, ...], options: str, flags: int = 0) -> None:
    """A fresh tmpfs over ``directory`` (``flags`` added to nosuid and nodev: a run's /tmp is
    noexec, so nothing it writes runs), with the ``kept`` paths beneath it bound back in,
    read-only; a bind keeps its own flags, so a venv under /tmp still loads. They are held open
    first: once covered, their names lead nowhere."""
    handles = [os.open(path, os.O_PATH) for path in kept]
    try:
        linux.mount("tmpfs", directory, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV | flags,
                    options)
        for path, handle in zip(kept, handles, strict=True):
            os.makedirs(path, 0o755, exist_ok=True)
            linux.mount(f"/proc/self/fd/{handle}", path, None, linux.MS_BIND | linux.MS_REC)
            linux.make_read_only(path)
    finally:
        for handle in handles:
            os.close(handle)


def _split(parent_role) -> None:
    """Fork; the parent plays ``parent_role(child)`` and exits, the child returns."""
    child = os.fork()
    if child == 0:
        return
    try:
        parent_role(child)
    finally:
        os._exit(70)


def _supervise(init: int) -> None:
    """Outside the namespace: wait for init, then end the way it did. Killing the supervisor
    kills init (its parent-death signal), and with it the whole namespace."""
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # the worker's last call, not ours
    _, status = os.waitpid(init, 0)
    code = os.waitstatus_to_exitcode(status)
    code = code if code >= 0 else 128 - code
    if code > 128 and code - 128 < signal.NSIG:  # the worker was killed: so are we, alike
        signal.signal(code - 128, signal.SIG_DFL)
        os.kill(os.getpid(), code - 128)
    os._exit(code)


def _init(worker: int) -> None:
    """PID 1: reap whatever the snippet orphaned until the worker itself ends."""
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    while True:
        pid, status = os.wait()
        if pid == worker:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)


def _become_nobody(plan: Plan, run_uid: int) -> None:
    if plan.mode == "root":
        os.setgroups([])
        os.setresgid(run_uid, run_uid, run_uid)
        os.setresuid(run_uid, run_uid, run_uid)  # from root: every capability is gone
    else:
        linux.drop_capabilities()  # the uid is `nobody` already; the namespace gave us caps
    linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    linux.prctl(linux.PR_SET_DUMPABLE, 0)
    linux.restrict_files({**{path: "read" for path in plan.readable}, **SYSTEM_FILES})
    if seccomp.available():  # where it is missing, isolation.detect says so (/healthz)
        seccomp.install()
    os.environ["HOME"] = "/tmp"
    os.environ["USER"] = os.environ["LOGNAME"] = "nobody"
