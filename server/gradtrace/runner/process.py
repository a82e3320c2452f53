"""Following a worker: read its event batches, enforce the wall clock, say how it ended.

Whatever happens to the worker (timeout, memory, a crash, a snippet that kills itself), the caller
gets events and an ending: never a hang, never silence. Workers come from the zygote (client.py,
the live server's CPU runs) or are spawned fresh (``SpawnedWorker``: `gradtrace trace`, and the
warm pool of CUDA workers, pool.py: CUDA cannot start in a process forked from one that has).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import gc
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from gradtrace.runner import cgroups
from gradtrace.runner.isolation import Isolation, detect
from gradtrace.runner.limits import RunLimits
from gradtrace.runner.sandbox import random_run_uid
from gradtrace.trace import jsonio
from gradtrace.trace.protocol import ErrorInfo, rebuild
from gradtrace.trace.untrusted import MAX_LINE_BYTES, check_batch

STARTUP_ALLOWANCE = 60.0  # seconds for a cold worker to import torch; not the snippet's time
LAST_CALL = 0.9  # seconds a timed-out worker gets to conclude and send what it recorded
REQUEST_PIPE_BYTES = 1 << 20
EXIT_GRACE = 5.0  # seconds a worker that finished its stream gets to exit by itself
# A spawned worker joins its run's cgroup (cgroups.py) before it is anything else: a shell writes
# its own pid into each of the run's cgroup.procs, then becomes bubblewrap or the worker, so every
# process of the run is born inside. (Should a write fail, the run has its rlimits alone, as a
# zygote's spare has; the self-test says so.)
ENTER_CGROUP = ('for d; do [ "$d" = -- ] && break; echo $$ 2>/dev/null >"$d/cgroup.procs"; '
                'shift; done; shift; exec "$@"')


class SpawnedWorker:
    """A worker in a fresh interpreter: slow to start, but it shares nothing with us. It runs
    what it is ``give``n; a ``warm`` one first says it is ready (pool.py). ``cgroup``: the
    directories of its run's cgroup (cgroups.make), which it is born in."""

    def __init__(self, device: str, isolation: Isolation, run_uid: int, warm: bool = False,
                 cgroup: list[str] | None = None):
        read_fd, write_fd = os.pipe()
        self.bwrapped = bool(isolation.prefix)
        entering = ["/bin/sh", "-c", ENTER_CGROUP, "gradtrace-run", *cgroup, "--"] if cgroup else []
        self.proc = subprocess.Popen(
            [*entering, *isolation.prefix_for(device), sys.executable, "-m",
             "gradtrace.runner.worker", str(write_fd), isolation.sandbox, str(run_uid), device,
             *(["warm"] if warm else [])],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(write_fd,), start_new_session=True, env=worker_env(device),
        )
        os.close(write_fd)
        self.events_fd = read_fd
        # A request (64 KiB of code at most, JSON-escaped) fits at once: giving it never waits
        # for a worker still importing torch, or hung starting CUDA.
        fcntl.fcntl(self.proc.stdin, fcntl.F_SETPIPE_SZ, REQUEST_PIPE_BYTES)

    def give(self, request: dict) -> None:
        """Its run: it reads the request once it is sandboxed (and, warm, ready)."""
        try:
            self.proc.stdin.write(json.dumps(request).encode())
            self.proc.stdin.close()
        except (BrokenPipeError, ValueError):
            pass  # it died: following it says how

    def signal(self, sig: int) -> None:
        """Signal its process group. Under bubblewrap that group is bubblewrap alone (the worker
        is in a session of its own inside), which dies of any signal, taking the sandbox with
        it: so only SIGKILL is sent. The last call (SIGUSR1) needs no sending: the worker keeps
        the same clock and stops itself in time (worker._Watch)."""
        if self.bwrapped and sig != signal.SIGKILL:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


class _Refused(Exception):
    """The worker broke the protocol, or the run broke a limit: end it, saying why."""

    def __init__(self, status: str, detail: str = ""):
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class Ending:
    status: str  # "done", "timeout", "stopped", "too_many_events" or "refused"
    returncode: int | None  # negative: killed by that signal; None: unknown
    detail: str = ""  # what was refused
    concluded: bool = False  # the worker sent its `end` event
    error_code: str | None = None  # the code of the last `error` event the worker sent


OnBatch = Callable[[list[dict], int], None]  # a batch of events, and its size in bytes


def follow(worker, limits: RunLimits, on_batch: OnBatch,
           stopped: Callable[[], bool] = lambda: False) -> Ending:
    """Pass each event batch to ``on_batch`` until the worker is done, out of time, or
    ``stopped()``; then make sure its whole process group is gone. The worker runs the
    snippet, so nothing it sends is trusted: a batch that is not valid ends the run."""
    status, detail = "done", ""
    returncode = None
    sent = sent_bytes = 0
    seen = Ending("done", None)  # what the events said: concluded, and the last error

    def counted(batch: list[dict], size: int) -> None:
        nonlocal sent, sent_bytes
        sent += sum(map(event_weight, batch))
        sent_bytes += size
        if sent > limits.max_events or sent_bytes > limits.max_event_mb * 2**20:
            raise _Refused("too_many_events")
        for event in batch:
            if event["type"] == "end":
                seen.concluded = True
            elif event["type"] == "error":
                seen.error_code = event["error"]["code"]
        on_batch(batch, size)

    try:
        with os.fdopen(worker.events_fd, "rb") as stream:
            try:
                status = _read(stream, limits.timeout, counted, stopped, STARTUP_ALLOWANCE,
                               ended=lambda: seen.concluded)
                if status == "timeout":
                    worker.signal(signal.SIGUSR1)  # time is up: conclude with what you hold
                    _read(stream, LAST_CALL, counted, stopped, None, ended=lambda: seen.concluded)
            except _Refused as refused:
                status, detail = refused.status, refused.detail
        if status == "done" and not seen.concluded:
            returncode = worker.wait(EXIT_GRACE)  # it closed its stream: let it exit by itself
    finally:
        worker.signal(signal.SIGKILL)  # always: it, or whatever it left behind in its group
    return Ending(status, returncode if returncode is not None else worker.wait(5.0), detail,
                  seen.concluded, seen.error_code)


def event_weight(event: dict) -> int:
    """What an event counts for against max_events: a columnar one, a count per step it holds,
    and at least one (an empty one still costs its parsing: forged by the thousand, they
    would pass the cap free)."""
    if event["type"] == "forward":
        return max(len(event["steps"]["columns"]["index"]), 1)
    if event["type"] == "backward":
        return max(len(event["result"]["steps"]["columns"]["order"]), 1)
    return 1


def _read(stream, timeout: float, on_batch: OnBatch, stopped, startup: float | None,
          ended: Callable[[], bool]) -> str:
    """Read batches until EOF, or until ``ended()`` (the worker sent its last event: the run is
    over, and its exit need not be waited for). With ``startup``, the clock starts at the first
    batch."""
    partial: list[bytes] = []  # the pieces of a line not yet ended
    partial_size = 0
    deadline = time.monotonic() + (startup if startup is not None else timeout)
    started = startup is None
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        while True:
            if stopped():
                return "stopped"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            if not sel.select(timeout=min(remaining, 0.1)):
                continue
            chunk = os.read(stream.fileno(), 1 << 20)
            if not chunk:
                return "done"
            start = 0
            while (cut := chunk.find(b"\n", start)) >= 0:
                line = b"".join([*partial, chunk[start:cut]]) if partial else chunk[start:cut]
                partial, partial_size, start = [], 0, cut + 1
                if not started:
                    started = True
                    deadline = time.monotonic() + timeout
                on_batch(_parse(line), len(line))
                if ended():
                    return "done"
            if start < len(chunk):
                partial.append(chunk[start:])
                partial_size += len(chunk) - start
                if partial_size > MAX_LINE_BYTES:
                    raise _Refused("refused", f"a batch of events over "
                                   f"{MAX_LINE_BYTES // 2**20} MiB")


@contextlib.contextmanager
def collector_paused():
    """Parsing, checking and rebuilding events make millions of small objects, none in a cycle:
    the cyclic collector's passes over them cost four times the work itself (a 60k-node run's
    check: 4.1 s with it, 0.9 s without)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse(line: bytes) -> list[dict]:
    with collector_paused():
        return _parse_batch(line)


def _parse_batch(line: bytes) -> list[dict]:
    try:
        batch = jsonio.loads(line)
    except (ValueError, RecursionError):
        raise _Refused("refused", "a batch of events that is not JSON") from None
    problem = check_batch(batch)
    if problem:
        raise _Refused("refused", problem)
    return batch


def ending_error(ending: Ending, limits: RunLimits) -> dict | None:
    """The error a run's ending adds to what its events say, if any."""
    if ending.status == "timeout" and ending.error_code == "timeout":
        return None  # the worker stopped in time and said where
    if ending.status == "timeout":
        return error("Timeout", f"the snippet ran longer than {limits.timeout:g} s and was "
                     "stopped", "timeout")
    if ending.status == "stopped":
        return error("Stopped", "the run was stopped", "user_exception")
    if ending.status == "too_many_events":
        return error("OutputLimitExceeded", f"the run sent more than {limits.max_events} "
                     f"events or {limits.max_event_mb} MiB of them and was stopped",
                     "output_limit")
    if ending.status == "refused":
        return error("ProtocolViolation", "the run's worker sent something the server refused, "
                     f"so the run was ended: {ending.detail}", "user_exception")
    if ending.concluded:
        return None
    return error(*_crash_reason(ending.returncode))


def _crash_reason(returncode: int | None) -> tuple[str, str, str]:
    if returncode is None:
        return ("SandboxRestarted", "the sandbox that ran this snippet was restarted before the "
                "run finished: run it again", "user_exception")
    if returncode > 128 and returncode - 128 < signal.NSIG:
        returncode = 128 - returncode  # bubblewrap and our supervisor say "killed by N" as 128+N
    if returncode < 0:
        number = -returncode
        name = signal.Signals(number).name
        if number == signal.SIGXCPU:
            return "Timeout", "the snippet used up its CPU time and was stopped", "timeout"
        return ("WorkerCrashed", f"the worker was killed by signal {number} ({name}), sent by "
                "the snippet itself or the kernel; gradtrace did not send it", "user_exception")
    return ("WorkerCrashed", f"the worker exited with status {returncode} before it finished "
            "the trace", "user_exception")


def error(type_: str, message: str, code: str) -> dict:
    return ErrorInfo(type_, message, None, code).to_json()


def worker_env(device: str = "cpu") -> dict:
    """A minimal environment: one thread per library, so forks and limits behave. A CUDA worker
    sees one GPU, the first the server may use, as cuda:0: the one its memory cap is on."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "LD_LIBRARY_PATH")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    if device == "cuda":
        env["CUDA_VISIBLE_DEVICES"] = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]
    return env


def request(code: str, device: str, limits: RunLimits, watched: bool = True,
            passes: str | None = None, seed: int | None = 0) -> dict:
    """What a worker is asked to run. ``watched``: a page draws the run as it comes, so the graph
    goes out before the first pass as well as at the end; a document reader (the CLI) needs only
    the final one. ``passes``: which passes of a loop to keep (gradtrace/passplan.py), checked
    already. ``seed``: what torch, random and numpy are seeded with (None: unseeded)."""
    return {"code": code, "device": device, "limits": dataclasses.asdict(limits),
            "watched": watched, "passes": passes, "seed": seed}


def run_snippet(code: str, *, device: str = "cpu", limits: RunLimits | None = None,
                isolation: Isolation | None = None, passes: str | None = None,
                events: list[dict] | None = None, seed: int | None = 0) -> dict:
    """Run ``code`` in a freshly spawned, sandboxed worker and return its trace document (and
    its events, into ``events`` when given). Run as root, the run has a cgroup of its own, as the
    server's runs have."""
    limits = limits or RunLimits()
    isolation = isolation or detect()
    events = [] if events is None else events
    run_cgroups = cgroups.for_runs(isolation.sandbox)
    try:
        run_uid = random_run_uid()
        worker = SpawnedWorker(device, isolation, run_uid,
                               cgroup=cgroups.for_spawned_run(run_cgroups, run_uid, limits))
        worker.give(request(code, device, limits, watched=False, passes=passes, seed=seed))
        ending = follow(worker, limits, lambda batch, size: events.extend(batch))
    finally:
        cgroups.release(run_cgroups)
    with collector_paused():
        doc = rebuild(events)
    doc["device"] = device
    doc["error"] = ending_error(ending, limits) or doc["error"]
    return doc
