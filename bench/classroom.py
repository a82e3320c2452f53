"""A classroom on loopback, measured: fan-out latency from the presenter's step to the last
viewer, and bytes per viewer for a run of about 3,000 nodes.

    python bench/classroom.py [--viewers 10,50,100] [--steps 50]

Starts `gradtrace serve --classroom --host 127.0.0.1`, connects one presenter and N viewers
(python-socketio clients, in this process), runs a 3,000-node snippet through the presenter,
checks that every viewer got every event, then sends `steps` view-state changes and prints, per
N, the median and worst time from a `sync` sent to the last viewer that received it (budget
100 ms at 100 viewers on one process), and the bytes each viewer received for the run against
the compact stream the presenter got (budget: no more).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_classroom import Member, classroom_server  # noqa: E402

# About 3,000 autograd nodes: a chain of 1,500 multiply-adds.
BIG_RUN = ("import torch\nx = torch.tensor(1.0, requires_grad=True)\ny = x\n"
           "for _ in range(1500):\n    y = y * 1.0001 + 0.001\ny.backward()\n")


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
            self.trace_bytes += len(json.dumps(data, separators=(",", ":")))
        super()._keep(name, data)


def measure(room: dict, viewers: int, steps: int) -> dict:
    presenter = Timed(room, presenter=True)
    watchers = [Timed(room) for _ in range(viewers)]
    try:
        presenter.run(BIG_RUN)
        presenter.wait(lambda m: any(e["type"] == "done" for e in m.events()), timeout=120)
        for w in watchers:
            w.wait(lambda m: any(e["type"] == "done" for e in m.events()), timeout=120)
            assert len(w.events()) == len(presenter.events()), "a viewer lost events"
        nodes = max((len(e["graph"]["nodes"]["id"]) for e in presenter.events()
                     if e["type"] == "graph"), default=0)
        base = {"code": BIG_RUN, "selected": None, "selected_name": None, "collapsed": None,
                "view": None, "internals": False}
        latencies = []
        for step in range(1, steps + 1):
            for w in watchers:
                w.expect = step
                w.all_arrived.clear()
            sent = time.perf_counter()
            presenter.sio.emit("sync", {**base, "step": step})
            for w in watchers:
                assert w.all_arrived.wait(10), f"a viewer missed step {step}"
            latencies.append(max(w.arrived[step] for w in watchers) - sent)
        return {"viewers": viewers, "nodes": nodes,
                "median_ms": statistics.median(latencies) * 1000,
                "worst_ms": max(latencies) * 1000,
                "viewer_bytes": statistics.median(w.trace_bytes for w in watchers),
                "presenter_bytes": presenter.trace_bytes}
    finally:
        for m in (presenter, *watchers):
            m.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--viewers", default="10,50,100")
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    for n in (int(v) for v in args.viewers.split(",")):
        with classroom_server() as (base, lines):  # a room of its own: no run to catch up on
            found = re.search(r"\?room=([\w-]+)&token=(\S+)", lines[0])
            room = {"base": base, "room": found[1], "token": found[2], "lines": lines}
            r = measure(room, n, args.steps)
        print(f"{r['viewers']:>4} viewers, a {r['nodes']}-node run: fan-out median "
              f"{r['median_ms']:.1f} ms, worst {r['worst_ms']:.1f} ms over {args.steps} steps; "
              f"{r['viewer_bytes'] / 1024:.0f} KiB a viewer, "
              f"{r['presenter_bytes'] / 1024:.0f} KiB the presenter's compact stream",
              flush=True)


if __name__ == "__main__":
    main()
