"""Warm workers for runs that cannot come from the zygote: CUDA runs.

A process that has started CUDA cannot fork a working child, and the zygote must never start it,
so a CUDA run needs a fresh interpreter: seconds to import torch, then CUDA's context. The pool
keeps ``size`` such workers made ahead, each sandboxed, CUDA started, and waiting for one run
(worker.py ``main``, warm). Taking one starts the next at once.

The first worker to get ready says what it found: the GPUs, or why CUDA did not start there. That
is how the server learns its devices without importing torch.
"""

from __future__ import annotations

import json
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable

from gradtrace.runner.isolation import Isolation
from gradtrace.runner.process import SpawnedWorker
from gradtrace.runner.sandbox import random_run_uid

READY_WAIT = 120.0  # seconds a worker may take to import torch and start CUDA
RETRY_AFTER = 5.0  # seconds before starting another worker after one failed (once one worked)
MAX_READY_LINE = 64 * 1024


class PoolUnavailable(Exception):
    """No worker can be had: why."""


class WarmPool:
    """``size`` warm workers for ``device``. ``on_found(found)`` hears what the first worker found
    (``{"devices": [...]}``) or why none could start (``{"problem": ...}``). ``cgroup_for(uid)``
    makes the cgroup of the run a worker with that uid will serve (cgroups.for_spawned_run):
    it is born in it, and waits there for its run."""

    def __init__(self, device: str, size: int, isolation: Isolation,
                 on_found: Callable[[dict], None] = lambda found: None,
                 cgroup_for: Callable[[int], list[str] | None] = lambda uid: None):
        self.device = device
        self.size = size
        self.isolation = isolation
        self.on_found = on_found
        self.cgroup_for = cgroup_for
        self.found: dict | None = None  # what the first worker found, once one got ready
        self.problem: str | None = None  # why the last start failed, until one succeeds
        self.started = 0  # workers started, ever
        self._ready: deque[SpawnedWorker] = deque()
        self._closed = False
        self._cond = threading.Condition()
        # NOTE [who starts the zygote] (client.py): bubblewrap's --die-with-parent follows the
        # thread that started it, so one long-lived thread starts every worker.
        threading.Thread(target=self._keep_full, name=f"pool-{device}", daemon=True).start()

    def take(self, timeout: float = READY_WAIT,
             stopped: Callable[[], bool] = lambda: False) -> SpawnedWorker | None:
        """A ready worker, waiting up to ``timeout`` for one being started; None once
        ``stopped()`` (the run was stopped while it waited). Raises PoolUnavailable, saying why,
        when none can be had."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not stopped():
                while self._ready:
                    worker = self._ready.popleft()
                    self._cond.notify_all()  # the keeper starts the next one
                    if worker.proc.poll() is None:
                        return worker
                    discard(worker)  # it died waiting (killed from outside): not a run's
                if self._closed:
                    raise PoolUnavailable(f"the {self.device} workers were shut down")
                if self.problem and self.found is None:
                    raise PoolUnavailable(self.problem)  # it never worked: it will not now
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PoolUnavailable(self.problem or f"no {self.device} worker got ready "
                                          f"in {timeout:g} s")
                self._cond.wait(min(remaining, 0.1))
        return None

    def status(self) -> dict:
        with self._cond:
            return {"size": self.size, "ready": len(self._ready), "started": self.started,
                    "problem": self.problem}

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._ready = list(self._ready), deque()
            self._cond.notify_all()
        for worker in idle:
            discard(worker)

    def _keep_full(self) -> None:
        while True:
            with self._cond:
                while not self._closed and len(self._ready) >= self.size:
                    self._cond.wait()
                if self._closed:
                    return
            worker, found = self._start_one()
            first = self.found is None  # until one works, a failure ends the keeper: first too
            with self._cond:
                if worker is None:
                    self.problem = found["problem"]
                elif self._closed:
                    discard(worker)
                else:
                    self.problem = None
                    self.found = self.found or found
                    self._ready.append(worker)
                self._cond.notify_all()
            if first:
                self.on_found(found)
            if worker is None:
                if self.found is None:
                    return  # the device is not there: starting more would only fail alike
                time.sleep(RETRY_AFTER)

    def _start_one(self) -> tuple[SpawnedWorker | None, dict]:
        """A worker started and ready, with what it found; or None and the problem."""
        self.started += 1
        run_uid = random_run_uid()
        worker = SpawnedWorker(self.device, self.isolation, run_uid, warm=True,
                               cgroup=self.cgroup_for(run_uid))
        line = _read_line(worker.events_fd, READY_WAIT)
        found = _ready_report(line)
        if "problem" in found:
            discard(worker)
            return None, found
        return worker, found


def _read_line(fd: int, timeout: float) -> bytes | None:
    """The worker's first line; None if it died, or said nothing in time, first. Nothing else
    follows it until the worker is given its run, so reading never takes more than the line."""
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data and len(data) < MAX_READY_LINE:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return None
        chunk = os.read(fd, MAX_READY_LINE)
        if not chunk:
            return None
        data += chunk
    return data.split(b"\n", 1)[0] if b"\n" in data else None


def _ready_report(line: bytes | None) -> dict:
    """What a worker's ready line says, checked field by field: `{"devices": [...]}` or
    `{"problem": why}`. (No snippet has run in it yet, but it is read as carefully as one.)"""
    if line is None:
        return {"problem": "the worker exited or hung before it was ready"}
    try:
        found = json.loads(line)["ready"]
    except (ValueError, KeyError, TypeError):
        return {"problem": "the worker's ready line was not understood"}
    if not isinstance(found, dict):
        return {"problem": "the worker's ready line was not understood"}
    if isinstance(found.get("problem"), str):
        return {"problem": found["problem"][:400]}
    devices = []
    for device in found.get("devices") or []:
        if not isinstance(device, dict) or not isinstance(device.get("id"), str):
            return {"problem": "the worker's ready line was not understood"}
        devices.append({key: device[key] for key in ("id", "name", "memory_mb", "capability")
                        if isinstance(device.get(key), str | int)
                        and not isinstance(device.get(key), bool)})
    return {"devices": devices}


def discard(worker: SpawnedWorker) -> None:
    """Kill a worker that will not run (taken but not given a run, or not ready), and reap it."""
    worker.signal(9)
    worker.wait(5.0)
    try:
        os.close(worker.events_fd)
    except OSError:
        pass
    worker.proc.stdin.close()
