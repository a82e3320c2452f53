"""The server's side of the zygote: start it (sandboxed where possible), ask it for workers,
signal them, learn how they ended, and start a new zygote when one dies.

The server process never imports torch: everything torch lives behind these sockets.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time

from gradtrace.runner.isolation import Isolation
from gradtrace.runner.process import worker_env


class ZygoteDied(Exception):
    pass


class ZygoteWorker:
    """A worker forked by the zygote, seen from the server."""

    def __init__(self, client: ZygoteClient, pid: int, events_fd: int, generation: int):
        self.client = client
        self.pid = pid
        self.events_fd = events_fd
        self.generation = generation

    def signal(self, sig: int) -> None:
        self.client.signal(self, sig)

    def wait(self, timeout: float) -> int | None:
        return self.client.wait_exit(self, timeout)


class ZygoteClient:
    def __init__(self, isolation: Isolation, ready_timeout: float = 120.0,
                 run_cgroups: dict | None = None):
        self.isolation = isolation
        # cgroups.Delegation and limits, for each spare to make its run's cgroup (zygote.py)
        self.run_cgroups = run_cgroups
        self.ready_timeout = ready_timeout
        self._lock = threading.Lock()  # one request/reply at a time on the control socket
        self._exits: dict[tuple[int, int], int] = {}
        self._exit_cond = threading.Condition()
        self.generation = 0
        self.restarts = 0
        self._proc: subprocess.Popen | None = None
        # NOTE [who starts the zygote]: bubblewrap's --die-with-parent follows the *thread* that
        # started it (PR_SET_PDEATHSIG). Started from a run's thread, the sandbox died when that
        # run ended. So one long-lived keeper thread does every start.
        self._starts: queue.Queue = queue.Queue()
        threading.Thread(target=self._keeper, name="zygote-keeper", daemon=True).start()
        self._start()

    def _keeper(self) -> None:
        while True:
            done = self._starts.get()
            try:
                self._start_here()
            finally:
                done.set()

    def _start(self) -> None:
        done = threading.Event()
        self._starts.put(done)
        done.wait()

    # -- lifecycle --------------------------------------------------------------------------

    def _start_here(self) -> None:
        control, control_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        notify, notify_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fds = (control_child.fileno(), notify_child.fileno())
        binds = [arg for directory in (self.run_cgroups or {}).get("directories", ())
                 for arg in ("--bind", directory, directory)] if self.isolation.prefix else []
        command = [*self.isolation.prefix, *binds, sys.executable, "-m",
                   "gradtrace.runner.zygote", *map(str, fds), self.isolation.sandbox,
                   json.dumps(self.run_cgroups or {})]
        self._proc = subprocess.Popen(command, pass_fds=fds, env=worker_env(),
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        control_child.close()
        notify_child.close()
        self.generation += 1
        self._control, self._notify = control, notify
        threading.Thread(target=self._read_exits, args=(notify, self.generation),
                         name="zygote-exits", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            self._control.close()
            if self._proc:
                try:
                    os.killpg(self._proc.pid, 9)
                except ProcessLookupError:
                    pass
                self._proc.wait()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _restart(self) -> None:
        try:
            self._control.close()
        finally:
            if self._proc and self._proc.poll() is None:
                os.killpg(self._proc.pid, 9)
                self._proc.wait()
            self.restarts += 1
            self._start()

    # -- requests ---------------------------------------------------------------------------

    def spawn(self, request: dict) -> ZygoteWorker:
        """A new worker running ``request``. Restarts a dead zygote once, then gives up. The
        request goes straight to the worker on a pipe of its own: the zygote never sees code."""
        with self._lock:
            for attempt in (1, 2):
                if not self.alive() and attempt == 1:
                    self._restart()
                events_read, events_write = os.pipe()
                request_read, request_write = os.pipe()
                try:
                    socket.send_fds(self._control, [b'{"run": true}'],
                                    [events_write, request_read])
                    reply = self._reply()
                except (OSError, ZygoteDied):
                    os.close(events_read)
                    os.close(request_write)
                    if attempt == 2:
                        raise ZygoteDied("the sandbox could not start a worker") from None
                    self._restart()
                    continue
                finally:
                    os.close(events_write)
                    os.close(request_read)
                worker = ZygoteWorker(self, reply["pid"], events_read, self.generation)
                break
        send_request(request_write, request)
        return worker

    def signal(self, worker: ZygoteWorker, sig: int) -> None:
        """Signal the worker's process group, through the zygote (inside bubblewrap, PIDs are
        the sandbox's own). A worker whose zygote died went with it (its parent-death signal)
        when sandboxed; otherwise it is signalled directly."""
        with self._lock:
            if worker.generation == self.generation and self.alive():
                try:
                    self._control.send(json.dumps({"signal": worker.pid, "sig": sig}).encode())
                    self._reply()
                    return
                except (OSError, ZygoteDied):
                    pass
        if not self.isolation.sandboxed:
            try:
                os.killpg(worker.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def _reply(self) -> dict:
        self._control.settimeout(self.ready_timeout)
        data = self._control.recv(1 << 16)
        if not data:
            raise ZygoteDied("the zygote closed its control socket")
        return json.loads(data)

    # -- exits ------------------------------------------------------------------------------

    def _read_exits(self, notify: socket.socket, generation: int) -> None:
        while True:
            try:
                data = notify.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                notify.close()
                return
            message = json.loads(data)
            with self._exit_cond:
                self._exits[(generation, message["exit"])] = _returncode(message["status"])
                self._exit_cond.notify_all()

    def wait_exit(self, worker: ZygoteWorker, timeout: float) -> int | None:
        """The worker's return code (negative: the signal that killed it), or None when its
        zygote is gone or it has not ended within ``timeout``."""
        key = (worker.generation, worker.pid)
        deadline = time.monotonic() + timeout
        with self._exit_cond:
            while key not in self._exits:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or worker.generation != self.generation or not self.alive():
                    return None  # its zygote is gone, and with it the news of its exit
                self._exit_cond.wait(min(remaining, 0.1))
            return self._exits.pop(key)


def send_request(fd: int, request: dict) -> None:
    """Write the request and close the pipe. A worker that died first just never reads it:
    following its events then says how it ended."""
    try:
        with os.fdopen(fd, "wb") as pipe:
            pipe.write(json.dumps(request).encode())
    except BrokenPipeError:
        pass


def _returncode(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)
