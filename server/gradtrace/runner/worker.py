"""The worker: runs one snippet under capture and streams its events.

Protocol: a JSON request ``{code, device, limits, watched}``; on the file descriptor passed to it,
one line per batch of events (a JSON list), the first batch holding the `start` event as the
snippet starts, the last ending with `end`. File descriptors 1 and 2 go to a temp file, so output
that bypasses Python (C++ warnings, os.write) cannot corrupt the stream; it is sent as a `stdout`
event just before `end`.

A worker forked by the zygote gets its request on a pipe of its own (zygote.py). A worker in a
fresh interpreter (``main``: the CLI's, and a pool's warm workers) reads it on stdin.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import sys
import tempfile
import time

from gradtrace.trace import jsonio


def main(argv: list[str]) -> None:
    """``worker EVENTS_FD SANDBOX_MODE RUN_UID DEVICE [warm]``: sandboxed before torch is
    imported, then ready for a run on DEVICE (CUDA started). A warm worker says so with one line
    ``{"ready": what it found}`` on the event pipe before it reads its request; a pool keeps it
    until a run comes (pool.py)."""
    from gradtrace.runner import sandbox

    events_fd, mode, run_uid, device = int(argv[1]), argv[2], int(argv[3]), argv[4]
    sandbox.close_all_but((events_fd,))
    if mode != "none":
        sandbox.enter(sandbox.plan_for_here(device), run_uid)
    events = os.fdopen(events_fd, "wb")
    found = prepare(device)
    if argv[5:] == ["warm"]:
        events.write(json.dumps({"ready": found}).encode() + b"\n")
        events.flush()
    try:
        request = json.loads(sys.stdin.buffer.read())
    except ValueError:
        os._exit(0)  # the pool closed without giving it a run
    run(request, events)
    os._exit(0)  # at once: freeing a long graph at exit could take longer than the run


def prepare(device: str) -> dict:
    """Import everything a run needs, and on cuda start CUDA: what it found (gpu.py)."""
    import gradtrace.capture  # noqa: F401 - torch with it

    if device == "cuda":
        from gradtrace.runner import gpu

        return gpu.start_cuda()
    return {"devices": [{"id": "cpu"}]}


def run(request: dict, events) -> None:
    """Run the request, writing event batches (JSON lines) to the binary file ``events``.
    Called in a fresh interpreter (main) or in a process forked from the zygote."""
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
    from gradtrace.trace.passplan import DEFAULT as DEFAULT_PASSES
    from gradtrace.trace.passplan import parse_passes
    from gradtrace.trace.protocol import end_event, stdout_event

    limits = RunLimits(**request.get("limits", {}))
    device = request.get("device", "cpu")
    cuda = device == "cuda" and _cuda_started()
    limits.apply(on_top_of_now=cuda)
    gpu_cap_mb = 0
    if cuda:
        from gradtrace.runner import gpu

        gpu_cap_mb = gpu.cap_memory(limits.gpu_memory_mb, limits.gpu_share)

    def write(batch: list[dict]) -> None:
        events.write(jsonio.dumps(batch) + b"\n")
        events.flush()

    stream = EventStream(write)
    watch = _Watch(stream, limits.timeout)
    import torch

    torch.set_num_threads(limits.threads)  # as many as the run's cores: sums as the user's add up
    seed = request.get("seed", 0)
    if type(seed) is not int:  # unseeded: fresh entropy, not the state a zygote forked with
        seed = None
        _seed_from_entropy()
    capture(request["code"], device=device, seed=seed,
            output_limit=limits.output_chars, stream=stream, on_start=watch.attach,
            config=CaptureConfig(max_nodes=limits.max_nodes,
                                 graph_before_passes=request.get("watched") is not False,
                                 gpu_memory_mb=gpu_cap_mb,
                                 **parse_passes(request.get("passes") or DEFAULT_PASSES)),
            free_graph=False)
    signal.setitimer(signal.ITIMER_REAL, 0)
    raw_output.seek(0)
    extra = raw_output.read(limits.output_chars).decode("utf-8", "replace")
    if extra:
        stream.push(stdout_event(extra))
    stream.push(end_event())
    stream.drain()
    events.close()
    shutil.rmtree(workdir, ignore_errors=True)  # sandboxed, /tmp goes with the run anyway


def _seed_from_entropy() -> None:
    import random

    import torch

    torch.seed()
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def _cuda_started() -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and torch.cuda.is_initialized()


# A timed-out run must end within a second of its limit (the parent reads on for LAST_CALL, 0.9 s,
# then kills), and concluding costs time that grows with the graph: about 15-20 us a node here
# (layout, the graph event, its JSON), measured on 40-90k-node chains, and about as much again
# where the events are read (parsed, checked, rebuilt, printed by the CLI). So a run with a big
# graph is stopped early enough for all of that to be over about CONCLUDED_BY seconds after the
# limit: a 3 s run of a chain that grows 15k nodes a second stops after about 1.8 s.
CONCLUDED_BY = 0.3
CONCLUDE_BASE = 0.1  # seconds
CONCLUDE_PER_NODE = 60e-6  # seconds, a node or a step not yet turned into one


class _Watch:
    """The worker's signal handlers. Events must flow while the snippet is quiet too (a sleep, a
    loop without torch calls): a 50 ms timer drains what waits, and stops the snippet when its
    time is up, less what concluding its graph will take. SIGUSR1 is the parent's word that time
    is up: the snippet is stopped where it is (or as soon as gradtrace's own code that it
    interrupted is done), and capture concludes with what it recorded, graph included.

    Only the stream writes to the event pipe, and never from inside a write: a handler that
    interrupts one leaves its batch to the next drain."""

    def __init__(self, stream, limit: float):
        self.stream = stream
        self.message = f"the snippet ran longer than {limit:g} s and was stopped"
        self.deadline = time.monotonic() + limit + CONCLUDED_BY
        self.session = None
        self.stop_requested = False
        signal.signal(signal.SIGALRM, self._tick)
        signal.signal(signal.SIGUSR1, self._stop)
        signal.setitimer(signal.ITIMER_REAL, stream.interval, stream.interval)

    def attach(self, session) -> None:
        self.session = session
        if self.stop_requested:
            session.request_stop(self.message)

    def _tick(self, signum, frame) -> None:
        self.stream.drain_if_due()
        session = self.session
        if session is None:
            return
        size = session.graph.size + session.pending_steps
        conclusion = CONCLUDE_BASE + CONCLUDE_PER_NODE * size
        if session.stop_message is None and time.monotonic() + conclusion >= self.deadline:
            session.request_stop(self.message)
        else:
            session.stop_if_requested()  # again, should the snippet have caught it

    def _stop(self, signum, frame) -> None:
        self.stop_requested = True
        if self.session is not None:
            self.session.request_stop(self.message)


if __name__ == "__main__":
    main(sys.argv)
