"""Runs for connected clients: one run per client at a time, a cap on concurrent runs with a fair
queue, stop and disconnect, and the run's events relayed to the client as they come.

Everything torch happens in workers (runner/); this module only moves bytes and keeps time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from gradtrace.runner import cgroups
from gradtrace.runner.client import ZygoteClient, ZygoteDied
from gradtrace.runner.isolation import Isolation
from gradtrace.runner.limits import RunLimits
from gradtrace.runner.pool import PoolUnavailable, WarmPool
from gradtrace.runner.process import SpawnedWorker, ending_error, error, follow, request
from gradtrace.trace.protocol import done_event, error_event, queued_event
from gradtrace.web.kept import KeptRuns
from gradtrace.web.outbox import ClientTooSlow

Send = Callable[[str, list[dict]], None]  # (client id, batch of events)


def notify(send: Send, client: str, batch: list[dict]) -> None:
    """A small notice (queued, error, done): a client too slow to take it goes without."""
    try:
        send(client, batch)
    except ClientTooSlow:
        pass


@dataclass
class Run:
    client: str
    code: str
    device: str
    owner: str = ""  # whose turn it uses in the queue: the client's address
    passes: str | None = None  # which passes of a loop to keep (passplan.py), checked
    seeded: bool = True  # torch, random and numpy seeded with 0 first; else left to chance
    stop: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    gone: bool = False  # its client disconnected: nothing of it is kept
    keep_values: bool = False  # unless a classroom still reads it


class RunQueue:
    """At most ``slots`` runs at once. Waiting runs are served round-robin by owner, so one
    address with many connections gets one turn in each round, like everyone else. (How many
    it can queue at all is bounded by its connection cap: one run per connection.)"""

    def __init__(self, slots: int, send: Send):
        self.slots = slots
        self.send = send
        self._running = 0
        self._waiting: dict[str, deque[Run]] = {}  # owner -> its runs, in order; dict order = turns
        self._cond = threading.Condition()

    def acquire(self, run: Run) -> bool:
        """Wait for a slot; False when the run was stopped while it waited."""
        with self._cond:
            self._waiting.setdefault(run.owner, deque()).append(run)
            self._tell_places()
            while self._running >= self.slots or self._next() is not run:
                if run.stop.is_set():
                    self._remove(run)
                    self._tell_places()
                    return False
                self._cond.wait(0.1)
            self._remove(run)
            if run.owner in self._waiting:  # served: this owner's next run waits a round
                self._waiting[run.owner] = self._waiting.pop(run.owner)
            self._running += 1
            self._tell_places()
            return True

    def release(self) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify_all()

    def _next(self) -> Run | None:
        return next((runs[0] for runs in self._waiting.values()), None)

    def _remove(self, run: Run) -> None:
        runs = self._waiting[run.owner]
        runs.remove(run)
        if not runs:
            del self._waiting[run.owner]

    def _order(self) -> list[Run]:
        """Who goes when: the first run of every owner in turn, then every second one, ..."""
        queues = [list(runs) for runs in self._waiting.values()]
        return [q[i] for i in range(max(map(len, queues), default=0)) for q in queues
                if i < len(q)]

    def _tell_places(self) -> None:
        for place, run in enumerate(self._order(), start=1):
            if place > 1 or self._running >= self.slots:
                notify(self.send, run.client, [queued_event(place)])


@dataclass
class PooledDevice:
    """A device whose runs take warm workers from ``pool`` (CUDA): at most ``slots`` runs at
    once, each under ``limits``."""
    pool: WarmPool
    slots: int
    limits: RunLimits

    def start(self, job: dict, stopped: Callable[[], bool] = lambda: False) -> SpawnedWorker | None:
        """A warm worker running ``job``; None when stopped while it waited for one."""
        worker = self.pool.take(stopped=stopped)
        if worker is not None:
            worker.give(job)
        return worker


class Sessions:
    """The runs of every connected client. A run on a device with a pool (CUDA) takes a warm
    worker from it, under that device's own cap of runs at once; the others fork from the
    zygote."""

    def __init__(self, send: Send, limits: RunLimits, slots: int, isolation: Isolation,
                 hang_up: Callable[[str], None] = lambda client: None,
                 pooled: dict[str, PooledDevice] | None = None,
                 kept_budget: int = 4 * 2**30, run_cgroups: cgroups.Delegation | None = None):
        self.send = send
        self.kept_budget = kept_budget  # bytes all clients' kept runs may hold together
        self.hang_up = hang_up  # drops a client that does not read what it is sent
        self.limits = limits
        self.isolation = isolation
        self.pooled = pooled or {}
        self.queue = RunQueue(slots, send)
        self.device_queues = {device: RunQueue(pooled.slots, send)
                              for device, pooled in self.pooled.items()}
        # a cgroup per run where the server may make them (root): its whole memory, processes
        # and CPU bounded, not each process's alone (given: the pools' workers have them too)
        self.cgroups = run_cgroups or cgroups.for_runs(isolation.sandbox)
        self.zygote = ZygoteClient(isolation, run_cgroups=self.cgroups.parents and {
            "version": self.cgroups.version, "parents": self.cgroups.parents,
            "directories": self.cgroups.directories(), "memory_mb": limits.run_memory_mb,
            "processes": limits.processes, "cpus": limits.cpus})
        self.kept = KeptRuns()  # each client's latest run's large values, for `inspect`
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def start(self, client: str, code: str, device: str, owner: str = "",
              passes: str | None = None, seeded: bool = True) -> str | None:
        """Start a run; a reason it cannot start instead, when it cannot."""
        cgroups.sweep(self.cgroups)  # the cgroups of runs that have ended
        held = self.kept.total_bytes(besides=client)  # (its own last run goes when this starts)
        if held > self.kept_budget:
            return (f"the server is holding {held // 2**20} MiB for other people's runs, over "
                    f"its {self.kept_budget // 2**20} MiB: try again when some have finished "
                    "with theirs")
        with self._lock:
            if client in self._runs:
                return "a run is already going: stop it first"
            run = self._runs[client] = Run(client, code, device, owner, passes, seeded)
        threading.Thread(target=self._execute, args=(run,), name=f"run-{client}",
                         daemon=True).start()
        return None

    def stop(self, client: str) -> bool:
        with self._lock:
            run = self._runs.get(client)
        if run:
            run.stop.set()
        return run is not None

    def running(self) -> int:
        with self._lock:
            return len(self._runs)

    def close(self) -> None:
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.stop.set()
        for pooled in self.pooled.values():
            pooled.pool.close()
        self.zygote.close()
        cgroups.release(self.cgroups)

    def _execute(self, run: Run) -> None:
        status = "stopped"
        queue = self.device_queues.get(run.device, self.queue)
        try:
            if queue.acquire(run):
                try:
                    status = self._run(run)
                finally:
                    queue.release()
        finally:
            with self._lock:
                self._runs.pop(run.client, None)
            if run.gone and not run.keep_values:  # it may have started keeping after its
                self.kept.forget(run.client)  # client left
            duration_ms = round((time.monotonic() - run.started) * 1e3)
            notify(self.send, run.client,
                   [done_event(status, duration_ms)])

    def forget(self, client: str, keep_values: bool = False) -> None:
        """The client left: stop its run and drop what was kept of it, unless others still
        read it (a classroom's run: the room drops it when it shows another)."""
        with self._lock:
            run = self._runs.get(client)
            if run:
                run.gone, run.keep_values = True, keep_values
                run.stop.set()
        if not keep_values:
            self.kept.forget(client)

    def _run(self, run: Run) -> str:
        kept = self.kept.start(run.client)

        def relay(batch: list[dict], _size: int) -> None:
            kept.strip(batch)  # the page asks for the large values when it shows them
            self.send(run.client, batch)

        pooled = self.pooled.get(run.device)
        limits = pooled.limits if pooled else self.limits
        job = request(run.code, run.device, limits, passes=run.passes,
                      seed=0 if run.seeded else None)
        try:
            try:  # the zygote never starts CUDA: a CUDA run without a pool is refused before
                worker = (pooled.start(job, run.stop.is_set) if pooled
                          else self.zygote.spawn(job))
            except (OSError, ZygoteDied) as exc:
                notify(self.send, run.client, [error_event(error(
                    "RunnerUnavailable", f"no worker could be started: {exc}",
                    "user_exception"))])
                return "error"
            except PoolUnavailable as exc:
                notify(self.send, run.client, [error_event(error(
                    "DeviceUnavailable", f"no {run.device} worker could be had: {exc}",
                    "cuda_unavailable" if run.device == "cuda" else "user_exception"))])
                return "error"
            if worker is None:
                return "stopped"
            ending = follow(worker, limits, relay, run.stop.is_set)
        except ClientTooSlow:
            self.hang_up(run.client)  # it loses its run; the server keeps its memory
            return "error"
        if ending.status == "stopped":
            return "stopped"
        problem = ending_error(ending, limits)
        if problem:
            notify(self.send, run.client, [error_event(problem)])
            return "error"
        return "error" if ending.error_code else "ok"
