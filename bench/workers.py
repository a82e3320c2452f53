"""Run to first graph, by where the run's worker comes from: warm pool, cold spawn, zygote.

    python bench/workers.py [--device cpu|cuda] [--reps N]

Measured at the runner, in this process, as the server's run thread does it: from asking for a
worker to the batch that holds the run's first `graph` event, and to its last event. The example
is examples/basics/wx_plus_b_loss.py (examples/gpu/cuda_matmul.py on cuda). Rows:
  zygote   forked from the warm zygote (CPU runs; CUDA cannot start in a forked child)
  pool     taken from a warm pool (CUDA runs: sandboxed, torch imported, CUDA started); each run
           waits until the pool is full again, so every one of them is warm
  spawned  a fresh interpreter per run, as CUDA runs were before the pool (and the CLI is)
Budget (issue 14): a CUDA run's first graph within 300 ms, warm. Medians, with the runs' range.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from gradtrace.runner.client import ZygoteClient
from gradtrace.runner.isolation import detect
from gradtrace.runner.limits import RunLimits
from gradtrace.runner.pool import WarmPool
from gradtrace.runner.process import SpawnedWorker, follow, request
from gradtrace.runner.sandbox import random_run_uid

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = {"cpu": ROOT / "examples/basics/wx_plus_b_loss.py",
           "cuda": ROOT / "examples/gpu/cuda_matmul.py"}


def timed(start_worker, job: dict, limits: RunLimits, before=lambda: None) -> tuple[float, float]:
    """(seconds to the first graph event, seconds to the end) of one run, timed from after
    ``before()``."""
    before()
    started = time.perf_counter()
    graph_at = []

    def on_batch(batch: list[dict], size: int) -> None:
        if not graph_at and any(e["type"] == "graph" for e in batch):
            graph_at.append(time.perf_counter() - started)
        errors = [e["error"] for e in batch if e["type"] == "error"]
        if errors:
            raise SystemExit(f"the run failed: {errors[0]['type']}: {errors[0]['message']}")

    ending = follow(start_worker(job), limits, on_batch)
    assert ending.status == "done" and graph_at, ending
    return graph_at[0], time.perf_counter() - started


def wait_full(pool: WarmPool) -> None:
    deadline = time.monotonic() + 120
    while pool.status()["ready"] < pool.size:
        if pool.problem and pool.found is None:
            raise SystemExit(f"no {pool.device} pool here: {pool.problem}")
        assert time.monotonic() < deadline, "the pool did not fill"
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--reps", type=int, default=9)
    args = parser.parse_args()
    isolation = detect()
    limits = RunLimits()
    job = request(EXAMPLE[args.device].read_text(), args.device, limits)
    print(f"{args.device}, {isolation.describe()}; median of {args.reps} (min-max)")
    print(f"{'worker':9} {'first graph':>24} {'done':>24}")

    pool = WarmPool(args.device, 1, isolation)

    def from_pool(job: dict):
        worker = pool.take()
        worker.give(job)
        return worker

    def spawned(job: dict):
        worker = SpawnedWorker(args.device, isolation, random_run_uid())
        worker.give(job)
        return worker

    ways = [("pool", from_pool, lambda: wait_full(pool)), ("spawned", spawned, lambda: None)]
    zygote = None
    if args.device == "cpu":
        zygote = ZygoteClient(isolation)
        ways.insert(0, ("zygote", zygote.spawn, lambda: None))
    try:
        for name, start, before in ways:
            timed(start, job, limits, before)  # a first run, untimed: imports, caches
            runs = [timed(start, job, limits, before) for _ in range(args.reps)]
            print(f"{name:9} {_stat([g for g, _ in runs]):>24} {_stat([d for _, d in runs]):>24}",
                  flush=True)
    finally:
        pool.close()
        if zygote:
            zygote.close()


def _stat(values: list[float]) -> str:
    return (f"{statistics.median(values) * 1e3:.0f} ms ({min(values) * 1e3:.0f}-"
            f"{max(values) * 1e3:.0f})")


if __name__ == "__main__":
    main()
