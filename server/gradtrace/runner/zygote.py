"""The zygote: a process that has imported torch, never computes, and forks one worker per run.

Forking a warm process takes milliseconds; a fresh interpreter needs seconds to import torch. The
zygote must never run a torch computation itself: OpenMP's thread pool would start, and a child
forked after that hangs. It only imports.

Talks to its client (client.py) over two SOCK_SEQPACKET sockets given as argv[1] and argv[2]:
- control: requests in, one reply each. ``{"run": request}`` with the write end of the run's
  event pipe attached (SCM_RIGHTS) is answered ``{"pid": pid}``; ``{"signal": pid, "sig": n}``
  signals that worker's process group and is answered ``{"ok": true}``.
- notify: ``{"exit": pid, "status": wait_status}`` for each worker that ended.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

MAX_MESSAGE = 1 << 20


def main(argv: list[str]) -> int:
    control = socket.socket(fileno=int(argv[1]))
    notify = socket.socket(fileno=int(argv[2]))
    _warm_up()

    def reap(signum, frame):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            try:
                notify.send(json.dumps({"exit": pid, "status": status}).encode())
            except OSError:
                return

    signal.signal(signal.SIGCHLD, reap)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 1)
        except OSError:
            return 0
        if not message:
            return 0  # the client went away: so do we
        request = json.loads(message)
        if "run" in request:
            pid = _fork_worker(request["run"], fds[0], (control, notify))
            os.close(fds[0])
            control.send(json.dumps({"pid": pid}).encode())
        elif "signal" in request:
            try:
                os.killpg(request["signal"], request["sig"])
            except (ProcessLookupError, PermissionError):
                pass
            control.send(b'{"ok": true}')


def _warm_up() -> None:
    """Import everything a run needs; compute nothing."""
    import networkx  # noqa: F401
    import numpy  # noqa: F401
    import torch  # noqa: F401

    import gradtrace.capture  # noqa: F401
    import gradtrace.runner.worker  # noqa: F401


def _fork_worker(request: dict, events_fd: int, sockets) -> int:
    pid = os.fork()
    if pid:
        return pid
    try:  # the child: never returns
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for sock in sockets:
            sock.close()
        os.setsid()
        from gradtrace.runner import isolation
        from gradtrace.runner.worker import run

        isolation.drop_privileges(request.get("user"))
        run(request, os.fdopen(events_fd, "w"))
        code = 0
    except BaseException:
        code = 70
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
