"""A classroom on loopback, measured: fan-out latency from the presenter's step to the last
viewer, and bytes per viewer for a run of about 3,000 nodes, on one server process and on two
that share the room through Redis.

    python bench/classroom.py [--viewers 10,50,100] [--steps 50] [--modes one,redis]

For each room size and mode: a fresh `gradtrace serve --classroom --host 127.0.0.1` (two, with a
redis-server of the bench's own, for `redis`), one presenter and N viewers (python-socketio
clients in this process; with Redis, the presenter on the first server and the viewers on both
in turn). The presenter runs a 3,000-node snippet; every viewer must receive the same events. Then
`steps` view-state changes; printed: the median and worst time from a `sync` sent to the last
viewer that received it (budgets: 100 ms at 100 viewers on one process, 250 ms through Redis),
and the bytes each viewer received for the run against the compact stream the presenter got
(budget: no more).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_classroom import classroom_server  # noqa: E402
from test_classroom_load import measure, room_of  # noqa: E402

BUDGET_MS = {"one": 100, "redis": 250}


@contextlib.contextmanager
def rooms(mode: str):
    """The presenter's room and the viewers' rooms (one per server process)."""
    if mode == "one":
        with classroom_server() as (base, lines):
            room = room_of(lines, base)
            yield room, [room]
        return
    from test_classroom_redis import redis_server

    with redis_server() as url, classroom_server("--redis", url) as (base_a, lines_a), \
            classroom_server("--redis", url) as (base_b, lines_b):
        a, b = room_of(lines_a, base_a), room_of(lines_b, base_b)
        yield a, [a, b]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--viewers", default="10,50,100")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--modes", default="one,redis")
    args = parser.parse_args()
    for mode in args.modes.split(","):
        if mode == "redis" and shutil.which("redis-server") is None:
            print("redis: skipped, redis-server is not installed")
            continue
        for n in (int(v) for v in args.viewers.split(",")):
            with rooms(mode) as (presenter_room, viewer_rooms):  # fresh: nothing to catch up on
                r = measure(presenter_room, viewer_rooms, n, args.steps)
            where = "one process" if mode == "one" else "two processes and Redis"
            print(f"{where}, {r['viewers']:>3} viewers, a {r['nodes']}-node run: fan-out median "
                  f"{r['median_ms']:.1f} ms (budget {BUDGET_MS[mode]}), worst "
                  f"{r['worst_ms']:.1f} ms over {args.steps} steps; "
                  f"{r['viewer_bytes'] / 1024:.0f} KiB a viewer, "
                  f"{r['presenter_bytes'] / 1024:.0f} KiB the presenter's compact stream",
                  flush=True)


if __name__ == "__main__":
    main()
