"""A %%gradtrace output for a 3,001-node run: its size, and how long after the cell ends it
shows (budgets, issue 28: at most 1 MB; at most 1 s).

    python bench/notebook.py [--reps N]

Timed: making the output in the kernel (the standalone page with the run, gzipped, the SVG
picture and the text report), then, in headless Chromium with no network, from the output's
page starting to load to the first picture drawn in its frame. Medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import gradtrace
from gradtrace.api.notebook import output

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    x = torch.tensor(1.0, requires_grad=True)
    with gradtrace.record() as run:
        y = x
        for _ in range(1500):
            y = y * 1.0001 + 0.001
        y.backward()
    nodes = len(run.document["graph"]["nodes"])
    made, bundle = [], None
    for _ in range(args.reps):
        started = time.perf_counter()
        bundle = output(run.document, run.prints, "code")
        made.append(time.perf_counter() - started)
    size = sum(len(v.encode()) for v in bundle.values())
    shown = browser_times(bundle["text/html"], args.reps)
    print(f"{nodes} nodes: output {size / 1e6:.2f} MB (budget 1 MB); made in "
          f"{statistics.median(made) * 1000:.0f} ms, drawn in the browser "
          f"{statistics.median(shown) * 1000:.0f} ms after it arrives: "
          f"{(statistics.median(made) + statistics.median(shown)):.2f} s in all (budget 1 s)")


def browser_times(frame: str, reps: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    times = []
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as p:
        host = Path(folder) / "output.html"
        host.write_text(f"<!doctype html><meta charset='utf-8'><body>{frame}</body>")
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for _ in range(reps):
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(
                ("file:", "about:", "data:")) else r.abort())
            page.goto(host.as_uri())
            times.append(first_picture(page))
            page.close()
        browser.close()
    return times


def first_picture(page) -> float:
    """Seconds from the output's page starting to load to the run's first picture drawn in its
    frame (the page's "gradtrace:first-frame" mark), both on the browser's own clock: polled
    sparingly, so that the polling does not slow the page it times."""
    while True:
        for frame in page.frames:
            at = frame.evaluate("""() => {
                const mark = performance.getEntriesByName('gradtrace:first-frame')[0];
                return mark ? performance.timeOrigin + mark.startTime : null; }""")
            if at is not None:
                return (at - page.evaluate("performance.timeOrigin")) / 1000
        page.wait_for_timeout(100)


if __name__ == "__main__":
    sys.exit(main())
