"""Resource limits a worker applies to itself before it runs a snippet."""

from __future__ import annotations

import resource
from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class RunLimits:
    timeout: float = 30.0  # wall-clock seconds, enforced by the parent
    memory_mb: int = 6144  # address space of the worker, torch included
    output_chars: int = 1_000_000  # what the snippet may print
    file_mb: int = 64  # largest file the snippet may write
    open_files: int = 256
    processes: int = 64  # per run (each has a uid of its own): bounds a fork bomb
    max_events: int = 500_000  # events one run may send (enforced by the parent)
    max_nodes: int = 1_000_000  # autograd nodes one run may record (enforced by the capture)

    def apply(self) -> None:
        """Set the rlimits of the calling process. The CPU limit backs up the parent's wall clock:
        a process that ignores its kill still runs out of CPU time."""
        cpu = int(self.timeout) + 2
        _set(resource.RLIMIT_CPU, cpu, cpu + 1)
        _set(resource.RLIMIT_AS, self.memory_mb * MiB)
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
