"""`python -m gradtrace.runner.probe MODE`: can this host make a run's sandbox? Prints
"sandboxed" and exits 0 when a forked child entered one and found it as promised; else the reason.

Cheap (no torch), so that start-up can try each kind of isolation. The proof that a real run
works in it, an optimizer step and the whole standard library, is selftest.py, run by the server.
"""

from __future__ import annotations

import os
import sys


def main(mode: str) -> int:
    from gradtrace.runner import sandbox

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            sandbox.close_all_but((write,))
            plan = sandbox.plan_for_here()
            sandbox.enter(plan, sandbox.random_run_uid())
            problem = _check_inside() if plan.mode == mode else f"this user gets {plan.mode}"
        except BaseException as exc:
            problem = f"{type(exc).__name__}: {exc}"
        os.write(write, (problem or "").encode()[:4000])
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        problem = f.read().decode()
    _, status = os.waitpid(pid, 0)
    if not problem and os.waitstatus_to_exitcode(status) != 0:
        problem = f"the sandboxed child ended with status {os.waitstatus_to_exitcode(status)}"
    if problem:
        print(problem, file=sys.stderr)
        return 1
    print("sandboxed")
    return 0


def _check_inside() -> str | None:
    if os.getuid() == 0 or os.geteuid() == 0:
        return "the run is still root"
    if os.getpid() == 1 or len(os.listdir("/proc")) > 200:
        return "the run is not in a PID namespace of its own"
    try:
        open("/etc/gradtrace-probe", "w").close()
        return "the root file system is writable"
    except OSError:
        pass
    import socket

    try:
        socket.create_connection(("127.0.0.1", 9), timeout=1).close()
        return "the run can reach the network"
    except OSError:
        pass
    import json  # noqa: F401 - the standard library is reachable
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
