"""Resource limits a worker applies to itself before it runs a snippet."""

from __future__ import annotations

import resource
from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class RunLimits:
    timeout: float = 30.0  # wall-clock seconds, enforced by the parent
    memory_mb: int = 6144  # address space of the worker, torch included
    run_memory_mb: int = 6144  # memory of all the run's processes, memfd included (its cgroup)
    output_chars: int = 1_000_000  # what the snippet may print
    file_mb: int = 64  # largest file the snippet may write
    open_files: int = 256
    processes: int = 64  # per run (each has a uid of its own): bounds a fork bomb
    max_events: int = 500_000  # events one run may send (enforced by the parent)
    # what those events may come to, as JSON (enforced by the parent): the CLI holds them all,
    # parsed, at about six times their size
    max_event_mb: int = 1024
    max_nodes: int = 1_000_000  # autograd nodes one run may record (enforced by the capture)
    gpu_memory_mb: int = 0  # what a CUDA run's tensors may take on the GPU; 0: gpu_share of it
    gpu_share: float = 0.8  # of the GPU's memory, when gpu_memory_mb is not set
    # cores a run may use (its cgroup's CPU quota, where it has one): torch runs as many threads
    # as whole cores, so its sums add up as in the user's own run with that many
    cpus: float = 1.0

    @property
    def threads(self) -> int:
        return max(1, int(self.cpus))

    def apply(self, on_top_of_now: bool = False) -> None:
        """Set the rlimits of the calling process. The CPU limit backs up the parent's wall clock:
        a process that ignores its kill still runs out of CPU time. It counts from the CPU time
        used so far, which a warm worker spent importing torch before its run came.

        ``on_top_of_now``: the address space may grow by memory_mb beyond what is mapped now.
        CUDA reserves tens of GiB of address space when it starts (mapped, not used), so a CUDA
        worker starts CUDA first and is then held to memory_mb more."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = int(usage.ru_utime + usage.ru_stime + self.timeout) + 2
        _set(resource.RLIMIT_CPU, cpu, cpu + 1)
        _set(resource.RLIMIT_AS, self.memory_mb * MiB + (_mapped_now() if on_top_of_now else 0))
        _set(resource.RLIMIT_FSIZE, self.file_mb * MiB)
        _set(resource.RLIMIT_NOFILE, self.open_files)
        _set(resource.RLIMIT_CORE, 0)
        _set(resource.RLIMIT_NPROC, self.processes)


def _set(kind: int, soft: int, hard: int | None = None) -> None:
    _, current_hard = resource.getrlimit(kind)
    hard = soft if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(kind, (soft, hard))


def _mapped_now() -> int:
    """This process's address space, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()
