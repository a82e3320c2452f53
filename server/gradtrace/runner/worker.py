"""The worker: runs one snippet under capture and streams its events.

Protocol: a JSON request on stdin ``{code, device, limits}``; the sandbox mode (sandbox.py, or
"none") as argv[2] and the run's uid as argv[3]; on the file descriptor passed as argv[1], one
line per batch of events (a JSON list), the first batch holding the `start` event as the
snippet starts. File descriptors 1 and 2 go to a temp file, so output that bypasses Python
(C++ warnings, os.write) cannot corrupt the stream; it is sent as a last `stdout` event.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import sys
import tempfile


def main(argv: list[str]) -> int:
    """A worker in a fresh interpreter (the CLI, CUDA): sandboxed before torch is imported."""
    from gradtrace.runner import sandbox

    request = json.loads(sys.stdin.read())
    events_fd = int(argv[1])
    sandbox.close_all_but((events_fd,))
    if argv[2] != "none":
        sandbox.enter(sandbox.plan_for_here(), int(argv[3]))
    run(request, os.fdopen(events_fd, "w"))
    return 0


def run(request: dict, events) -> None:
    """Run the request, writing event batches to the file ``events``. Called in a fresh
    interpreter (main) or in a process forked from the zygote."""
    gc.disable()  # a worker lives for one run: collections would only slow it down
    os.close(0)
    os.open(os.devnull, os.O_RDONLY)  # fd 0: the snippet sees no stdin
    workdir = tempfile.mkdtemp(prefix="gradtrace-run-")
    os.chdir(workdir)
    raw_output = open(os.path.join(workdir, ".fd-output"), "w+b")  # noqa: SIM115
    os.dup2(raw_output.fileno(), 1)
    os.dup2(raw_output.fileno(), 2)

    from gradtrace.capture import CaptureConfig, capture
    from gradtrace.capture.stream import EventStream
    from gradtrace.runner.limits import RunLimits

    limits = RunLimits(**request.get("limits", {}))
    limits.apply()

    def write(batch: list[dict]) -> None:
        events.write(json.dumps(batch, separators=(",", ":")) + "\n")
        events.flush()

    stream = EventStream(write)
    _drain_on_signals(stream)
    capture(request["code"], device=request.get("device", "cpu"),
            output_limit=limits.output_chars, stream=stream,
            config=CaptureConfig(max_nodes=limits.max_nodes))
    signal.setitimer(signal.ITIMER_REAL, 0)
    raw_output.seek(0)
    extra = raw_output.read(limits.output_chars).decode("utf-8", "replace")
    if extra:
        write([{"type": "stdout", "text": extra}])
    events.close()
    shutil.rmtree(workdir, ignore_errors=True)  # sandboxed, /tmp goes with the run anyway


def _drain_on_signals(stream) -> None:
    """Events must flow while the snippet is quiet too (a sleep, a loop without torch calls):
    a 50 ms timer drains what waits. SIGUSR1 is the parent's last call before it kills us on a
    timeout: send everything, then go."""
    def tick(signum, frame):
        stream.drain_if_due()

    def last_call(signum, frame):
        stream.drain()
        os._exit(0)

    signal.signal(signal.SIGALRM, tick)
    signal.signal(signal.SIGUSR1, last_call)
    signal.setitimer(signal.ITIMER_REAL, stream.interval, stream.interval)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
