"""The parent side: start a worker, feed it a snippet, enforce the wall clock, read the document.

Whatever happens to the worker (timeout, memory, a crash, a snippet that kills itself), the caller
gets a trace document with ``error`` set: never a hang, never silence.
"""

from __future__ import annotations

import dataclasses
import json
import os
import selectors
import signal
import subprocess
import sys
import time

from gradtrace.protocol import rebuild
from gradtrace.runner.limits import RunLimits

STARTUP_ALLOWANCE = 60.0  # seconds for a cold worker to import torch; not the snippet's time

def run_snippet(code: str, *, device: str = "cpu", limits: RunLimits | None = None) -> dict:
    """Run ``code`` in a fresh worker process and return its trace document."""
    limits = limits or RunLimits()
    request = json.dumps({"code": code, "device": device,
                          "limits": dataclasses.asdict(limits)})
    read_fd, write_fd = os.pipe()
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradtrace.runner.worker", str(write_fd)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        pass_fds=(write_fd,), start_new_session=True, env=_worker_env(),
    )
    os.close(write_fd)
    events: list[dict] = []
    with os.fdopen(read_fd, "rb") as stream:
        try:
            proc.stdin.write(request.encode())
            proc.stdin.close()
            status = _read_events(stream, proc, started, limits.timeout, events)
            if status == "timeout":
                _last_call(proc, stream, events)
        finally:
            _kill_group(proc)
    doc = rebuild(events)
    doc["device"] = device
    if status == "timeout":
        doc["error"] = _error("Timeout", f"the snippet ran longer than {limits.timeout:g} s "
                              "and was stopped", "timeout")
    elif proc.returncode != 0 or not any(e["type"] == "pass_log" for e in events):
        doc["error"] = _error(*_crash_reason(proc.returncode, limits))  # it never concluded
    return doc

def _read_events(stream, proc, started: float, timeout: float, events: list,
                 started_snippet: bool = False) -> str:
    """Collect event batches until EOF ("done") or the deadline ("timeout"). The snippet's clock
    starts with the first batch, which the worker sends as the snippet starts."""
    buffer = b""
    deadline = started + (timeout if started_snippet else STARTUP_ALLOWANCE)
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            if not sel.select(timeout=remaining):
                continue
            chunk = os.read(stream.fileno(), 1 << 20)
            if not chunk:
                proc.wait()
                return "done"
            *lines, buffer = (buffer + chunk).split(b"\n")
            for line in lines:
                if not events and not started_snippet:
                    deadline = time.monotonic() + timeout
                events.extend(json.loads(line))


def _last_call(proc, stream, events: list, grace: float = 1.0) -> None:
    """Ask a worker that ran out of time for the events it still holds, briefly."""
    try:
        proc.send_signal(signal.SIGUSR1)
    except ProcessLookupError:
        return
    _read_events(stream, proc, time.monotonic(), grace, events, started_snippet=True)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()

def _crash_reason(returncode: int | None, limits: RunLimits) -> tuple[str, str, str]:
    if returncode is not None and returncode < 0:
        sig = signal.Signals(-returncode).name
        if -returncode == signal.SIGXCPU:
            return "Timeout", "the snippet used up its CPU time and was stopped", "timeout"
        if -returncode in (signal.SIGKILL, signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):
            return ("WorkerCrashed", f"the worker died with {sig}; the memory limit is "
                    f"{limits.memory_mb} MB", "memory_limit" if -returncode == signal.SIGKILL
                    else "user_exception")
        return "WorkerCrashed", f"the worker died with {sig}", "user_exception"
    return ("WorkerCrashed", f"the worker exited with status {returncode} before it finished "
            "the trace", "user_exception")

def _worker_env() -> dict:
    """A minimal environment: one thread per library, so forks and limits behave."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "CUDA_VISIBLE_DEVICES",
            "LD_LIBRARY_PATH")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    return env

def _error(type_: str, message: str, code: str) -> dict:
    return {"type": type_, "message": message, "line": None, "code": code, "cause_line": None}
