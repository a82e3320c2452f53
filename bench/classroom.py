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
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_classroom import classroom_server  # noqa: E402
from test_classroom_load import measure, room_of  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--viewers", default="10,50,100")
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    for n in (int(v) for v in args.viewers.split(",")):
        with classroom_server() as (base, lines):  # a room of its own: no run to catch up on
            room = room_of(lines, base)
            r = measure(room, [room], n, args.steps)
        print(f"{r['viewers']:>4} viewers, a {r['nodes']}-node run: fan-out median "
              f"{r['median_ms']:.1f} ms, worst {r['worst_ms']:.1f} ms over {args.steps} steps; "
              f"{r['viewer_bytes'] / 1024:.0f} KiB a viewer, "
              f"{r['presenter_bytes'] / 1024:.0f} KiB the presenter's compact stream",
              flush=True)


if __name__ == "__main__":
    main()
