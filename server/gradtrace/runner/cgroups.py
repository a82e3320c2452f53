"""One cgroup per run, so that a run is bounded as a whole: the memory of all its processes
(memfd and shmem included), their number, and their CPU.

Per-process rlimits did not bound a run: one process held 7 GiB in memfds under its 6 GiB address
space, two children held 8 GiB between them, and sixty busy children, each in a session of its
own (so each in a scheduler autogroup of its own), pushed /healthz to 9 s.

At start-up a root server makes a directory of its own (``gradtrace-PID-RANDOM``) under its
cgroup in each controller it can write, and hands them to the zygote (bound in, writable, when it
lives in bubblewrap). Each spare worker, forked and still root, makes ``run-UID`` beside the
others, sets its limits, and moves itself in before it enters its sandbox; every process of its
run is born in it. A spawned worker (the CUDA pool's, `gradtrace trace`'s) is born in its run's
cgroup too (process.ENTER_CGROUP). The run's uid cannot write cgroup files, and its sandbox
mounts them read-only. The server removes the directories of ended runs as new ones start
(``sweep``), and all of them at its end.

Machines mount the cgroup v1 controllers beside an empty unified tree, or cgroup v2 alone: this
reads /proc/self/cgroup and the mounts rather than assume. Where no controller can be written
(an unprivileged server, a read-only /sys), runs keep the per-process rlimits alone, and
/healthz says so.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass, field

CONTROLLERS = ("memory", "pids", "cpu")
CPU_PERIOD_US = 100_000
SETTLED = 5.0  # seconds after which an empty run cgroup is one whose run ended


@dataclass(frozen=True)
class Delegation:
    """Where runs' cgroups go: controller -> the server's directory (v1: one a controller; v2:
    one directory for all); and why not, when empty."""

    version: int = 0
    parents: dict[str, str] = field(default_factory=dict)
    problem: str | None = None

    def describe(self) -> str:
        if not self.parents:
            return f"none: {self.problem}"
        return f"cgroup v{self.version}, a cgroup per run: {', '.join(sorted(self.parents))}"

    def directories(self) -> list[str]:
        return sorted(set(self.parents.values()))


def for_runs(sandbox: str) -> Delegation:
    """The directories for the cgroups of runs sandboxed as ``sandbox``: a run's first process
    joins its cgroup while it is still root, so only a root server has them."""
    if sandbox != "root":
        return Delegation(problem="runs are bounded per process only: cgroups need a root server")
    return delegate()


def for_spawned_run(delegation: Delegation, run_uid: int, limits) -> list[str] | None:
    """A spawned worker's run cgroup (process.SpawnedWorker's ``cgroup``), with the run's
    ``limits`` (RunLimits); None where there are none."""
    if not delegation.parents:
        return None
    return make(delegation, f"run-{run_uid}", limits.run_memory_mb, limits.processes,
                limits.cpus)


def delegate() -> Delegation:
    """Make this server's cgroup directories, where it may (root). Named by the process and a
    random part: two servers in one process (tests) have their own."""
    if os.geteuid() != 0:
        return Delegation(problem="the server is not root: runs are bounded per process only")
    mounts = _mounts()
    own = _own_cgroups()
    name = f"gradtrace-{os.getpid()}-{secrets.token_hex(3)}"
    parents, version = {}, 0
    problems = []
    for controller in CONTROLLERS:  # v1: a hierarchy for each controller
        mount = mounts.get(controller)
        if mount is None or controller not in own:
            continue
        path = os.path.join(mount, own[controller].lstrip("/"), name)
        try:
            _clear_abandoned(os.path.dirname(path))
            os.makedirs(path, exist_ok=True)
            parents[controller], version = path, 1
        except OSError as exc:
            problems.append(f"{controller}: {exc.strerror}")
    if not parents and "" in mounts and "" in own:  # v2: one hierarchy, controllers enabled
        base = os.path.join(mounts[""], own[""].lstrip("/"))
        path = os.path.join(base, name)
        try:
            _clear_abandoned(base)
            available = _read(os.path.join(base, "cgroup.controllers")).split()
            wanted = [c for c in CONTROLLERS if c in available]
            os.makedirs(path, exist_ok=True)
            _write(os.path.join(path, "cgroup.subtree_control"),
                   " ".join(f"+{c}" for c in wanted))
            parents, version = dict.fromkeys(wanted, path), 2
        except OSError as exc:
            problems.append(f"cgroup v2: {exc.strerror}")
    if not parents:
        return Delegation(problem="no cgroup controller could be written here"
                          + (f" ({'; '.join(problems)})" if problems else ""))
    return Delegation(version, parents)


def make(delegation: Delegation, name: str, memory_mb: int, processes: int,
         cpus: float) -> list[str]:
    """Make the run's cgroup ``name`` in each controller, with its limits. Returns the
    directories made: a process joins the run by writing its pid to each one's cgroup.procs."""
    made = []
    for directory in delegation.directories():
        path = os.path.join(directory, name)
        os.makedirs(path, exist_ok=True)
        made.append(path)
        controllers = {c for c, d in delegation.parents.items() if d == directory}
        for file, value in _limits(delegation.version, controllers, memory_mb, processes, cpus):
            with contextlib.suppress(FileNotFoundError):  # (swap accounting may be off)
                _write(os.path.join(path, file), value)
    return made


def join(delegation: Delegation, name: str, memory_mb: int, processes: int,
         cpus: float) -> None:
    """Make the run's cgroup ``name`` and move the calling process into it."""
    for path in make(delegation, name, memory_mb, processes, cpus):
        _write(os.path.join(path, "cgroup.procs"), str(os.getpid()))


def sweep(delegation: Delegation, older_than: float = SETTLED) -> int:
    """Remove the run cgroups that are empty (their runs ended) and older than ``older_than``
    seconds (a spare moves into its own within milliseconds of making it); how many are left."""
    now, left = time.time(), 0
    for directory in delegation.directories():
        with contextlib.suppress(OSError):
            for entry in os.scandir(directory):
                if entry.name.startswith("run-") and entry.is_dir():
                    try:
                        if now - entry.stat().st_ctime >= older_than:
                            os.rmdir(entry.path)  # EBUSY while a process is in it
                            continue
                    except OSError:
                        pass
                    left += 1
    return left


def release(delegation: Delegation, wait: float = 3.0) -> None:
    """At the server's end, with its zygote gone: the runs' cgroups, once their last processes
    are, then its own directories."""
    deadline = time.monotonic() + wait
    while sweep(delegation, older_than=0) and time.monotonic() < deadline:
        time.sleep(0.05)
    for directory in delegation.directories():
        with contextlib.suppress(OSError):
            os.rmdir(directory)


def _clear_abandoned(base: str) -> None:
    """The directories of servers that were killed (SIGKILL leaves them), once empty."""
    for entry in os.scandir(base):
        if not entry.name.startswith("gradtrace-") or not entry.is_dir():
            continue
        pid = entry.name.split("-")[1]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            release(Delegation(parents={"": entry.path}), wait=0)


def _limits(version: int, controllers: set[str], memory_mb: int, processes: int, cpus: float):
    memory = str(memory_mb * 2**20)
    quota = str(int(cpus * CPU_PERIOD_US))
    if version == 1:
        table = {"memory": [("memory.limit_in_bytes", memory),
                            ("memory.memsw.limit_in_bytes", memory)],
                 "pids": [("pids.max", str(processes))],
                 "cpu": [("cpu.cfs_period_us", str(CPU_PERIOD_US)), ("cpu.cfs_quota_us", quota)]}
    else:
        table = {"memory": [("memory.max", memory), ("memory.swap.max", "0")],
                 "pids": [("pids.max", str(processes))],
                 "cpu": [("cpu.max", f"{quota} {CPU_PERIOD_US}")]}
    return [item for c in CONTROLLERS if c in controllers for item in table[c]]


def _mounts() -> dict[str, str]:
    """Controller -> where its v1 hierarchy is mounted; "" -> the v2 mount."""
    found: dict[str, str] = {}
    with open("/proc/self/mounts") as f:
        for line in f:
            _, where, kind, options, *_ = line.split()
            if kind == "cgroup2":
                found.setdefault("", where)
            elif kind == "cgroup":
                for option in options.split(","):
                    if option in CONTROLLERS:
                        found.setdefault(option, where)
    return found


def _own_cgroups() -> dict[str, str]:
    """Controller -> this process's cgroup in it ("" -> its v2 cgroup)."""
    found: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            for name in names.split(",") if names else [""]:
                found[name] = path
    return found


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)
