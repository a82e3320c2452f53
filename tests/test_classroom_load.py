"""A classroom under load, on loopback: a hundred viewers in one room receive a 3,000-node run and
fifty steps, with nothing lost, and the fan-out latency is measured (bench/classroom.py prints it
for other room sizes and through Redis)."""

from __future__ import annotations

import re
import statistics
import threading
import time

from gradtrace.trace.jsonio import dumps
from test_classroom import Member, classroom_server

# About 3,000 autograd nodes: a chain of 1,500 multiply-adds.
BIG_RUN = ("import torch\nx = torch.tensor(1.0, requires_grad=True)\ny = x\n"
           "for _ in range(1500):\n    y = y * 1.0001 + 0.001\ny.backward()\n")
FAN_OUT_BUDGET_MS = 100  # the median, at 100 viewers on one process (bench/classroom.py's)


class Timed(Member):
    """A member that notes when each `sync` step arrived, and how many trace bytes came."""

    def __init__(self, room, presenter=False):
        self.arrived: dict[int, float] = {}
        self.trace_bytes = 0
        self.all_arrived = threading.Event()
        self.expect = None
        super().__init__(room, presenter)

    def _keep(self, name, data):
        if name == "sync":
            self.arrived[data["step"]] = time.perf_counter()
            if self.expect is not None and data["step"] == self.expect:
                self.all_arrived.set()
        if name == "room_run":  # the run starts: what came before (a late join's) is not its
            self.trace_bytes = 0
        if name == "trace":
            self.trace_bytes += len(dumps(data))  # as the server wrote it
        super()._keep(name, data)


def measure(presenter_room: dict, viewer_rooms: list[dict], viewers: int, steps: int) -> dict:
    """A presenter on ``presenter_room`` runs BIG_RUN and sends ``steps`` steps; ``viewers``
    viewers, spread over ``viewer_rooms`` in turn, must each receive all of it."""
    presenter = Timed(presenter_room, presenter=True)
    watchers = []
    try:
        for i in range(viewers):  # one at a time: each made is closed below, whatever fails
            watchers.append(Timed(viewer_rooms[i % len(viewer_rooms)]))
        presenter.run(BIG_RUN)
        run = whole_run(presenter, timeout=120)
        graphs = [e for e in run if e["type"] == "graph"]
        assert graphs, [e for e in run if e["type"] in ("error", "rejected", "done")]
        for w in watchers:
            assert whole_run(w, timeout=120) == run, "a viewer's run differs from the presenter's"
        nodes = max(len(e["graph"]["nodes"]["id"]) for e in graphs)
        base = {"code": BIG_RUN, "selected": None, "selected_name": None, "collapsed": None,
                "view": None, "internals": False}
        latencies = []
        for step in range(1, steps + 1):
            for w in watchers:
                w.expect = step
                w.all_arrived.clear()
            sent = time.perf_counter()
            presenter.emit("sync", {**base, "step": step})
            for w in watchers:
                assert w.all_arrived.wait(10), f"a viewer missed step {step}"
            latencies.append(max(w.arrived[step] for w in watchers) - sent)
        return {"viewers": viewers, "nodes": nodes,
                "reconnected": sum(w.connects > 1 for w in watchers),
                "median_ms": statistics.median(latencies) * 1000,
                "worst_ms": max(latencies) * 1000,
                "viewer_bytes": statistics.median(w.trace_bytes for w in watchers),
                "presenter_bytes": presenter.trace_bytes}
    finally:
        for m in (presenter, *watchers):
            m.close()


def is_done(member: Member) -> bool:
    return any(e["type"] == "done" for e in member.events())


def whole_run(member: Member, timeout: float) -> list[dict]:
    """The run's events, once they end in `done`. Taken at once: a member that reconnects is
    sent the run again, from `room_run`, and its events() are then part of it for a while."""
    deadline = time.monotonic() + timeout
    while True:
        member.wait(is_done, timeout=max(0.0, deadline - time.monotonic()))
        events = member.events()
        if any(e["type"] == "done" for e in events):
            return events


def room_of(lines: list[str], base: str) -> dict:
    found = re.search(r"\?room=([\w-]+)&token=(\S+)", lines[0])
    return {"base": base, "room": found[1], "token": found[2]}


def test_a_hundred_viewers_receive_a_3000_node_run_and_50_steps_with_nothing_lost():
    with classroom_server() as (base, lines):
        room = room_of(lines, base)
        result = measure(room, [room], viewers=100, steps=50)
    print(f"\n100 viewers: fan-out median {result['median_ms']:.1f} ms, worst "
          f"{result['worst_ms']:.1f} ms; {result['viewer_bytes'] / 1024:.0f} KiB a viewer; "
          f"{result['reconnected']} reconnected")
    assert result["nodes"] >= 3000
    assert result["median_ms"] <= 2 * FAN_OUT_BUDGET_MS, result  # a loaded machine: twice
    assert result["viewer_bytes"] <= result["presenter_bytes"], result
