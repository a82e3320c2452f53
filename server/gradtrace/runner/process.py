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

from gradtrace.protocol import ErrorInfo, Trace, document
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
    with os.fdopen(read_fd, "rb") as result:
        try:
            proc.stdin.write(request.encode())
            proc.stdin.close()
            payload, status = _read_document(result, proc, started, limits.timeout)
        finally:
            _kill_group(proc)
    if status == "timeout":
        return failed_document(device, "Timeout", f"the snippet ran longer than "
                               f"{limits.timeout:g} s and was stopped", "timeout")
    try:
        return json.loads(payload)
    except ValueError:
        return failed_document(device, *_crash_reason(proc.returncode, limits))

def _read_document(stream, proc, started: float, timeout: float) -> tuple[bytes, str]:
    """Read the worker's output until EOF. The first line says the snippet has started, and from
    then on the snippet has ``timeout`` seconds."""
    buffer = b""
    deadline = started + STARTUP_ALLOWANCE
    snippet_started = False
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b"", "timeout"
            if not sel.select(timeout=remaining):
                continue
            chunk = os.read(stream.fileno(), 1 << 20)
            if not chunk:
                proc.wait()
                return buffer, "done"
            buffer += chunk
            if not snippet_started and b"\n" in buffer:
                snippet_started = True
                buffer = buffer.split(b"\n", 1)[1]
                deadline = time.monotonic() + timeout

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

def failed_document(device: str, type_: str, message: str, code: str) -> dict:
    """A trace document for a run that produced none of its own."""
    return document(Trace(device=device, error=ErrorInfo(type_, message, None, code)))
