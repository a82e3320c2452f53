"""The zygote: a process that has imported torch, never computes, and forks one worker per run.

Forking a warm process takes milliseconds; a fresh interpreter needs seconds to import torch. The
zygote must never run a torch computation itself: OpenMP's thread pool would start, and a child
forked after that hangs. It only imports.

The zygote never sees a snippet: each run's request (code included) travels on a pipe of its
own, from the server straight to the worker, after the worker is sandboxed. So no run can find an
earlier user's code in the zygote's memory, and none can read that memory anyway: the zygote is
not dumpable and runs as another user.

Talks to its client (client.py) over two SOCK_SEQPACKET sockets given as argv[1] and argv[2],
with the sandbox mode (sandbox.py, or "none") as argv[3]:
- control: requests in, one reply each. ``{"run": true}`` with two descriptors attached
  (SCM_RIGHTS), the write end of the run's event pipe and the read end of its request pipe, is
  answered ``{"pid": pid}``; it may carry ``"uid"``, the run's own uid. ``{"signal": pid,
  "sig": n}`` signals that worker's process group and is answered ``{"ok": true}``.
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
    from gradtrace.runner import linux, sandbox

    linux.prctl(linux.PR_SET_DUMPABLE, 0)  # no ptrace, no /proc/PID/mem, not even as our uid
    control = socket.socket(fileno=int(argv[1]))
    notify = socket.socket(fileno=int(argv[2]))
    plan = None if argv[3] == "none" else sandbox.plan_for_here()
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
            message, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 2)
        except OSError:
            return 0
        if not message:
            return 0  # the client went away: so do we
        request = json.loads(message)
        if "run" in request and len(fds) == 2:
            pid = _fork_worker(plan, int(request.get("uid") or 0), *fds)
            for fd in fds:
                os.close(fd)
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


def _fork_worker(plan, run_uid: int, events_fd: int, request_fd: int) -> int:
    pid = os.fork()
    if pid:
        return pid
    try:  # the child: never returns
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        from gradtrace.runner import sandbox
        from gradtrace.runner.worker import run

        sandbox.close_all_but((events_fd, request_fd))  # the zygote's sockets included
        if plan is not None:
            sandbox.enter(plan, run_uid or sandbox.random_run_uid())
        with os.fdopen(request_fd, "rb") as requests:
            request = json.loads(requests.read())
        run(request, os.fdopen(events_fd, "w"))
        code = 0
    except BaseException:
        code = 70
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
