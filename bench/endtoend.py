"""`gradtrace trace FILE --json` end to end against plain `python FILE`, time and peak memory.

    python bench/endtoend.py [--reps N]

Both import torch and run the whole snippet in a fresh process; the CLI also forks its sandboxed
worker, captures, builds the document and prints it (to /dev/null). Peak RSS is the largest
resident set of the process tree (GNU time's %M, which follows waited-for descendants). Medians.
Budgets (issue 9): time <= 2x plain at 10k nodes and <= 3x at 50k; peak RSS <= 2x plain at 50k.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from capture import transformer  # noqa: E402  (the same workloads as capture.py)

CHAIN = """import torch
x = torch.tensor(1.0, requires_grad=True)
y = x
for _ in range({n}):
    y = y * 1.0001 + 0.0001
y.backward()
print(x.grad)
"""


def workloads():
    setup, body = transformer(330)
    return [("transformer-like (~10k nodes)", setup + body, 2.0),
            ("chain (~50k nodes)", CHAIN.format(n=25_000), 3.0)]


def timed(command: list[str]) -> tuple[float, int]:
    """(seconds, peak RSS in KiB) of one run of ``command``."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M", *command], capture_output=True,
                         text=True, check=True)
    seconds, kib = out.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kib)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    print(f"median of {args.reps}; RSS: the largest process of the tree (the CLI's worker)")
    header = (f"{'workload':32} {'plain':>7} {'trace':>7} {'ratio':>6} {'budget':>6} "
              f"{'plain RSS':>10} {'trace RSS':>10} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as folder:
        for name, code, budget in workloads():
            path = Path(folder) / "snippet.py"
            path.write_text(code)
            plain = [timed([sys.executable, str(path)]) for _ in range(args.reps)]
            trace = [timed(["sh", "-c", f'"{sys.executable}" -m gradtrace trace "{path}" '
                            "--json > /dev/null"]) for _ in range(args.reps)]
            p_time = statistics.median(t for t, _ in plain)
            t_time = statistics.median(t for t, _ in trace)
            p_rss = statistics.median(m for _, m in plain) / 1024
            t_rss = statistics.median(m for _, m in trace) / 1024
            print(f"{name:32} {p_time:>6.2f}s {t_time:>6.2f}s {t_time / p_time:>5.2f}x "
                  f"{budget:>5.1f}x {p_rss:>8.0f}MB {t_rss:>8.0f}MB {t_rss / p_rss:>5.2f}x",
                  flush=True)


if __name__ == "__main__":
    main()
