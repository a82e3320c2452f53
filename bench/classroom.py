"""A classroom on loopback, measured: fan-out latency from the presenter's step to the last
viewer, and bytes per viewer for a run of about 3,000 nodes, on one server process and on two
that share the room through Redis.

    python bench/classroom.py [--viewers 10,50,100] [--steps 50] [--modes one,redis] [--late 20]

For each room size and mode: a fresh `gradtrace serve --classroom --host 127.0.0.1` (two, with a
redis-server of the bench's own, for `redis`), one presenter and N viewers (python-socketio
clients in this process; with Redis, the presenter on the first server and the viewers on both
in turn). The presenter runs a 3,000-node snippet; every viewer must receive the same events. Then
`steps` view-state changes; printed: the median and worst time from a `sync` sent to the last
viewer that received it (budgets: 100 ms at 100 viewers on one process, 250 ms through Redis),
and the bytes each viewer received for the run against the compact stream the presenter got
(budget: no more).

Then `late` viewers join the finished room one after another, half on each process with Redis:
printed, the median time from connecting to being welcomed (the room's run replayed), and the
median CPU time each welcome cost the server processes (from /proc, a late joiner at a time).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_classroom import Member, classroom_server, done  # noqa: E402
from test_classroom_load import BIG_RUN, measure, room_of  # noqa: E402

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
    parser.add_argument("--late", type=int, default=20)
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
        if args.late:
            with rooms(mode) as (presenter_room, viewer_rooms):
                w = welcomes(presenter_room, viewer_rooms, args.late)
            print(f"{where}, {args.late} late joiners of a {w['nodes']}-node run: welcomed in "
                  f"{w['median_ms']:.0f} ms (median), costing the servers {w['cpu_ms']:.1f} ms "
                  f"of CPU each (median)", flush=True)


def welcomes(presenter_room: dict, viewer_rooms: list[dict], late: int) -> dict:
    """The presenter runs BIG_RUN; then ``late`` viewers join, one at a time, and leave."""
    presenter = Member(presenter_room, presenter=True)
    try:
        presenter.run(BIG_RUN)
        presenter.wait(done, timeout=120)
        nodes = max(len(e["graph"]["nodes"]["id"]) for e in presenter.events()
                    if e["type"] == "graph")
        servers = [server_pid(room) for room in viewer_rooms]
        took, cpu = [], []
        for i in range(late):
            before, started = cpu_seconds(servers), time.perf_counter()
            viewer = Member(viewer_rooms[i % len(viewer_rooms)])  # returns once welcomed
            took.append(time.perf_counter() - started)
            cpu.append(cpu_seconds(servers) - before)
            assert viewer.events() == presenter.events()
            viewer.close()
    finally:
        presenter.close()
    return {"nodes": nodes, "median_ms": statistics.median(took) * 1000,
            "cpu_ms": statistics.median(cpu) * 1000}


def server_pid(room: dict) -> int:
    """The server process listening on the room's port (its command line names the port)."""
    port = str(urlparse(room["base"]).port)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in words and port.encode() in words:
            return int(pid)
    raise RuntimeError(f"no server process for port {port}")


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of these processes, all their threads."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


if __name__ == "__main__":
    main()
