"""Which devices runs may use, as the workers found them: the web process never imports torch.

The cpu is always there. CUDA is there when the host has NVIDIA device nodes and the first warm
CUDA worker (runner/pool.py) started CUDA inside its sandbox and named the GPUs. Until then it is
"starting"; where it is absent, the page's device menu says why.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from gradtrace.runner.sandbox import gpu_nodes


def cuda_absent_reason(enabled: bool) -> str | None:
    """Why runs cannot have CUDA, when that is plain without starting a worker."""
    if not enabled:
        return "CUDA is turned off for this server (its CUDA pool size is 0)"
    if not gpu_nodes():
        return "this host has no NVIDIA GPU (no /dev/nvidia* device nodes)"
    return None


class Devices:
    """The devices of this server; ``on_change(report)`` hears each change of the report."""

    def __init__(self, on_change: Callable[[dict], None] = lambda report: None):
        self.on_change = on_change
        self._cuda: dict = {"id": "cuda", "available": False, "reason": "not looked for"}
        self._lock = threading.Lock()

    def cuda_absent(self, reason: str) -> None:
        self._set({"id": "cuda", "available": False, "reason": reason})

    def cuda_starting(self) -> None:
        self._set({"id": "cuda", "available": True, "starting": True,
                   "label": "cuda (starting…)"})

    def cuda_found(self, found: dict) -> None:
        """What the first warm CUDA worker found (pool.py's ready report)."""
        if "problem" in found:
            self.cuda_absent(found["problem"])
            return
        gpus = found.get("devices") or []
        first = gpus[0] if gpus else {}
        label = " · ".join(str(part) for part in (
            first.get("id", "cuda"), first.get("name"),
            f"{first['memory_mb'] / 1024:.0f} GiB" if "memory_mb" in first else None) if part)
        self._set({"id": "cuda", "available": True, "label": label, "gpus": gpus})

    def ids(self) -> tuple[str, ...]:
        """The devices a run may ask for now (CUDA while starting too: its run waits)."""
        with self._lock:
            return ("cpu", "cuda") if self._cuda["available"] else ("cpu",)

    def why_not(self, device: str) -> str:
        with self._lock:
            if device == "cuda" and not self._cuda["available"]:
                return f"this server cannot run on cuda: {self._cuda['reason']}"
        return f"unknown device {device!r}: this server has {', '.join(self.ids())}"

    def report(self) -> dict:
        """`{devices: [{id, available, label | reason, starting?, gpus?}]}`, for the page."""
        with self._lock:
            return {"devices": [{"id": "cpu", "available": True, "label": "cpu"},
                                dict(self._cuda)]}

    def _set(self, cuda: dict) -> None:
        with self._lock:
            self._cuda = cuda
        self.on_change(self.report())
