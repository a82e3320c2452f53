"""`gradtrace trace FILE --json` end to end against plain `python FILE`, time and peak memory.

    python bench/endtoend.py [--reps N] [--only TEXT]

Each run is a fresh process that imports torch and runs the whole snippet: plain `python FILE`,
or the CLI, which also spawns its sandboxed worker, captures, builds the document and writes it
(to a file). Both have one torch thread (OMP_NUM_THREADS=1, as the worker sets it). The two
alternate, and the medians of N are compared. The snippets are bench/capture.py's workloads
written out as files (setup, then body): the transformer-like model at about 10k nodes, the
unrolled RNN at about 50k, and the tutorial's two 2,000-pass fitting loops. `nodes` is the graph
the CLI's document holds (a loop's: its kept passes).

Peak RSS: the largest peak resident set (VmHWM, which the kernel keeps per process) of the
process and every process below it, the CLI's worker included, read from /proc every 10 ms while
it runs; what a process adds in its last 10 ms can be missed. The worker runs in a sandbox whose
processes are not waited for all the way up, so neither RUSAGE_CHILDREN nor GNU time's %M sees
it (they report the CLI's 22 MB); and a child's ru_maxrss starts from this bench's own peak.

Budgets (DESIGN.md, issue 25): time <= 2x plain at 10k nodes and <= 3x at 50k; a loop within 3x
plain + 0.3 s (its budget in the page, held to here too); peak RSS <= 2x plain at 50k.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from capture import LOOP, Budget, legendre_fit, poly_fit, rnn, transformer  # noqa: E402

ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_SAMPLE_EVERY = 0.01  # seconds between reads of the CLI's process tree


def workloads():
    """(name, code, time budget, peak RSS budget or None)."""
    return [
        ("transformer-like (~10k nodes)", "".join(transformer(330)), Budget(2.0), None),
        ("unrolled RNN (~50k nodes)", "".join(rnn(6250)), Budget(3.0), Budget(2.0)),
        ("polynomial fit (2000 passes)", "".join(poly_fit(2000)), LOOP, None),
        ("Legendre P3 fit (2000 passes)", "".join(legendre_fit(2000)), LOOP, None),
    ]


def plain_run(path: Path) -> tuple[float, int]:
    """(seconds, peak RSS in KiB) of `python FILE`."""
    elapsed, peak, status = watched([sys.executable, str(path)], subprocess.DEVNULL)
    if status:
        raise SystemExit(f"python {path} failed with status {status}")
    return elapsed, peak


def trace_run(path: Path, out: Path) -> tuple[float, int]:
    """(seconds, peak RSS in KiB of the largest process in the tree) of `gradtrace trace --json`,
    its document written to ``out``."""
    with out.open("wb") as sink:
        elapsed, peak, _ = watched([sys.executable, "-m", "gradtrace", "trace", str(path),
                                    "--json", "--timeout", "600"], sink)
    return elapsed, peak


def watched(command: list[str], stdout) -> tuple[float, int, int]:
    """(seconds, the largest VmHWM in KiB of the process and its descendants, exit status) of
    one run of ``command``. Not ru_maxrss: a child spawned by this (large) process inherits its
    peak into its own ru_maxrss at exec, while VmHWM starts afresh with the new program."""
    peaks: dict[int, int] = {}
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=stdout, env=ONE_THREAD)
    while proc.poll() is None:
        for pid in [proc.pid, *_descendants(proc.pid)]:
            peaks[pid] = max(peaks.get(pid, 0), _peak_kib(pid))
        time.sleep(_SAMPLE_EVERY)
    return time.perf_counter() - started, max(peaks.values(), default=0), proc.returncode


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        parent = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:  # gone already
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    children = [int(c) for c in f.read().split()]
            except OSError:
                continue
            found += children
            stack += children
    return found


def _peak_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _document_nodes(out: Path) -> int:
    """The number of graph nodes in the CLI's document; a run that failed is reported."""
    doc = json.loads(out.read_bytes())
    if doc.get("error"):
        print(f"  the trace failed: {doc['error']}", file=sys.stderr)
    return len(doc["graph"]["nodes"])


def measure(code: str, reps: int, folder: Path) -> dict:
    path, out = folder / "snippet.py", folder / "trace.json"
    path.write_text(code)
    plain, traced = [], []
    for _ in range(reps):
        plain.append(plain_run(path))
        traced.append(trace_run(path, out))
    return {"nodes": _document_nodes(out),
            "plain": statistics.median(t for t, _ in plain),
            "trace": statistics.median(t for t, _ in traced),
            "plain_rss": statistics.median(m for _, m in plain) / 1024,
            "trace_rss": statistics.median(m for _, m in traced) / 1024}


_COLUMNS = (f"{'workload':32} {'nodes':>6} {'plain':>7} {'trace':>7} {'ratio':>6} {'budget':>7} "
            f"{'ok':>3} {'plain RSS':>9} {'trace RSS':>9} {'ratio':>6} {'budget':>6} {'ok':>3}")


def _row(name: str, r: dict, budget: Budget, rss_budget: Budget | None) -> str:
    ok = "yes" if budget.allows(r["plain"], r["trace"]) else "NO"
    if rss_budget is None:
        rss_ok, rss_budget_text = "", "-"
    else:
        rss_ok = "yes" if rss_budget.allows(r["plain_rss"], r["trace_rss"]) else "NO"
        rss_budget_text = str(rss_budget)
    return (f"{name:32} {r['nodes']:>6} {r['plain']:>6.2f}s {r['trace']:>6.2f}s "
            f"{r['trace'] / r['plain']:>5.2f}x {budget!s:>7} {ok:>3} {r['plain_rss']:>7.0f}MB "
            f"{r['trace_rss']:>7.0f}MB {r['trace_rss'] / r['plain_rss']:>5.2f}x "
            f"{rss_budget_text:>6} {rss_ok:>3}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", metavar="TEXT", default="",
                        help="only the workloads whose name contains TEXT")
    args = parser.parse_args()
    print(f"median of {args.reps}, one torch thread; trace RSS: the largest process of the "
          "CLI's tree (its worker)")
    print(_COLUMNS)
    print("-" * len(_COLUMNS))
    with tempfile.TemporaryDirectory() as folder:
        for name, code, budget, rss_budget in workloads():
            if args.only.lower() in name.lower():
                r = measure(code, args.reps, Path(folder))
                print(_row(name, r, budget, rss_budget), flush=True)


if __name__ == "__main__":
    main()
