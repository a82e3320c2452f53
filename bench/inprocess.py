"""gradtrace.record in the user's own process against the worker's capture of the same code,
side by side in one process, one torch thread (budget, issue 28: record costs no more).

    python bench/inprocess.py [--reps N] [--quick] [--only TEXT]

For each of bench/capture.py's workloads the model and inputs are built once, untimed. Then, in
turn: plain (the body run as it is), capture (as the worker runs it: events streamed and encoded
as JSON, the document left to the server) and record (the body as a function of a file, recorded
in process: events kept, the document rebuilt from them). Printed: the medians, and record /
capture.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture import workloads  # noqa: E402

import gradtrace  # noqa: E402
from gradtrace.capture import capture  # noqa: E402
from gradtrace.capture.stream import EventStream  # noqa: E402
from gradtrace.trace import jsonio  # noqa: E402


def measure(setup: str, body: str, reps: int, folder: Path) -> dict:
    preset: dict = {}
    exec(setup, preset)
    path = folder / f"body_{abs(hash(body))}.py"
    path.write_text(body)
    plain_code = compile(body, "<snippet>", "exec")
    as_function = types.FunctionType(compile(body, str(path), "exec"), preset)
    plain, captured, recorded = [], [], []
    for _ in range(reps):
        gc.collect()
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            exec(plain_code, dict(preset))
        plain.append(time.perf_counter() - started)
        gc.collect()
        started = time.perf_counter()
        trace = capture(body, preset=preset, stream=EventStream(jsonio.dumps))
        captured.append(time.perf_counter() - started)
        assert trace.error is None, trace.error
        del trace
        gc.collect()
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # record prints what it prints
            run = gradtrace.record(as_function)
        recorded.append(time.perf_counter() - started)
        assert run.exception is None, run.exception
        nodes = len(run.document["graph"]["nodes"])
        del run
    return {"plain": statistics.median(plain), "capture": statistics.median(captured),
            "record": statistics.median(recorded), "nodes": nodes}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'workload':32} {'nodes':>6} {'plain':>9} {'capture':>9} {'record':>9} "
          f"{'record/capture':>15}")
    with tempfile.TemporaryDirectory() as folder:
        for name, (setup, body), _ in workloads(args.quick):
            if args.only.lower() not in name.lower():
                continue
            r = measure(setup, body, args.reps, Path(folder))
            print(f"{name:32} {r['nodes']:>6} {r['plain'] * 1000:>7.0f}ms "
                  f"{r['capture'] * 1000:>7.0f}ms {r['record'] * 1000:>7.0f}ms "
                  f"{r['record'] / r['capture']:>14.2f}x", flush=True)


if __name__ == "__main__":
    main()
