"""The zygote: a process that has imported torch, never computes, and forks one worker per run.

Forking a warm process takes milliseconds; a fresh interpreter needs seconds to import torch. The
zygote must never run a torch computation itself: OpenMP's thread pool would start, and a child
forked after that hangs. It only imports.

The zygote never sees a snippet, and each run's sandbox is made before its run is asked for
(``Spare``): each run's request (code included) travels on a pipe of its
own, from the server straight to the worker, after the worker is sandboxed. So no run can find an
earlier user's code in the zygote's memory, and none can read that memory anyway: the zygote is
not dumpable and runs as another user.

Talks to its client (client.py) over two SOCK_SEQPACKET sockets given as argv[1] and argv[2],
with the sandbox mode (sandbox.py, or "none") as argv[3] and, as argv[4], where each run's cgroup
goes and its limits (cgroups.py; ``{}``: none; the server removes them when they are empty):
- control: requests in, one reply each. ``{"run": true}`` with two descriptors attached
  (SCM_RIGHTS), the write end of the run's event pipe and the read end of its request pipe, is
  answered ``{"pid": pid}``. ``{"signal": pid, "sig": n}`` signals that worker's process group
  and is answered ``{"ok": true}``.
- notify: ``{"exit": pid, "status": wait_status}`` for each worker that ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys

from gradtrace.runner import cgroups

MAX_MESSAGE = 1 << 20


def main(argv: list[str]) -> int:
    from gradtrace.runner import linux, sandbox

    linux.prctl(linux.PR_SET_DUMPABLE, 0)  # no ptrace, no /proc/PID/mem, not even as our uid
    control = socket.socket(fileno=int(argv[1]))
    notify = socket.socket(fileno=int(argv[2]))
    plan = None if argv[3] == "none" else sandbox.plan_for_here()
    bounds = json.loads(argv[4]) if len(argv) > 4 else {}
    _warm_up()
    uids: dict[int, int] = {}  # live workers' pids -> their run uids

    def reap(signum, frame):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            uids.pop(pid, None)
            try:
                notify.send(json.dumps({"exit": pid, "status": status}).encode())
            except OSError:
                return

    def fork_spare() -> Spare:
        taken = set(uids.values())  # one C call: the SIGCHLD handler cannot cut into it
        uid = sandbox.random_run_uid()
        while uid in taken:
            uid = sandbox.random_run_uid()
        spare = Spare(plan, uid, (control, notify), bounds)
        uids[spare.pid] = uid
        return spare

    signal.signal(signal.SIGCHLD, reap)
    spare = fork_spare()
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 2)
        except OSError:
            return 0
        if not message:
            return 0  # the client went away: so do we
        request = json.loads(message)
        if "run" in request and len(fds) == 2:
            if not spare.hand_over(fds):  # it died waiting: make another, at once
                spare = fork_spare()
                spare.hand_over(fds)
            for fd in fds:
                os.close(fd)
            control.send(json.dumps({"pid": spare.pid}).encode())
            spare = fork_spare()  # the next run's sandbox, made while nobody waits for it
        elif "signal" in request:
            try:
                os.killpg(request["signal"], request["sig"])
            except (ProcessLookupError, PermissionError):
                pass
            control.send(b'{"ok": true}')


def _warm_up() -> None:
    """Import everything a run needs; compute nothing."""
    import numpy  # noqa: F401
    import torch  # noqa: F401

    import gradtrace.capture  # noqa: F401
    import gradtrace.runner.worker  # noqa: F401


class Spare:
    """A worker forked and sandboxed ahead of time, waiting for a run: its two pipes arrive over
    a socket of its own. Forking a process that holds torch costs milliseconds each time, and a
    sandbox takes three forks; made ahead, they cost a run nothing. Where the server gave cgroups
    (``bounds``), it first moves into its run's own, with the run's limits."""

    def __init__(self, plan, run_uid: int, zygote_sockets, bounds: dict):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.pid = os.fork()
        if self.pid:
            theirs.close()
            self.channel = mine
            return
        code = 70
        try:  # the child: never returns
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.setsid()
            from gradtrace.runner import sandbox
            from gradtrace.runner.worker import run

            sandbox.close_all_but((theirs.fileno(),))  # the zygote's sockets included
            for sock in (mine, *zygote_sockets):
                sock.detach()  # closed already: forget them without closing a reused number
            if bounds:  # (should it fail, the run has its rlimits; the self-test says so)
                with contextlib.suppress(OSError):
                    cgroups.join(cgroups.Delegation(bounds["version"], bounds["parents"]),
                                 f"run-{run_uid}", bounds["memory_mb"], bounds["processes"],
                                 bounds["cpus"])
            if plan is not None:
                sandbox.enter(plan, run_uid)
            _, fds, _, _ = socket.recv_fds(theirs, 16, 2)
            theirs.close()
            if len(fds) == 2:
                events_fd, request_fd = fds
                with os.fdopen(request_fd, "rb") as requests:
                    request = json.loads(requests.read())
                run(request, os.fdopen(events_fd, "wb"))
                code = 0
            else:
                code = 0  # the zygote went away before a run came: nothing to do
        finally:
            os._exit(code)

    def hand_over(self, fds: list[int]) -> bool:
        """Give this spare its run; False when it is no longer there to take it."""
        try:
            socket.send_fds(self.channel, [b"run"], fds)
            return True
        except OSError:
            return False
        finally:
            self.channel.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
