"""The page in headless Chromium, measured: animation frame rate and Run -> first frame.

    python bench/page.py [--reps N]

Starts `gradtrace serve`, opens the page with Playwright (Debian's chromium), and prints medians:
  first frame   Run clicked -> the first frame of the graph painted, for an example
  fps           frames per second while playing a graph of about 2,000 nodes (budget 60)
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_live import serve  # noqa: E402  (the tests' real-server helper)

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]
EXAMPLE = (Path(__file__).resolve().parent.parent / "examples/basics/wx_plus_b_loss.py").read_text()
BIG = """import torch
x = torch.tensor(1.0, requires_grad=True)
w = torch.tensor(0.999, requires_grad=True)
y = x
for _ in range(1000):
    y = y * w + 0.001
y.backward()
"""


def run(page, code: str) -> None:
    page.evaluate("code => document.querySelector('.CodeMirror').CodeMirror.setValue(code)", code)
    page.click("[data-testid=run]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')",
        timeout=120000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=9)
    args = parser.parse_args()
    with serve(timeout=120) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 850})
        page.goto(url + "/")
        firsts = []
        for _ in range(args.reps + 1):
            run(page, EXAMPLE)
            firsts.append(page.evaluate(
                "performance.measure('m', 'gradtrace:run', 'gradtrace:first-frame').duration"))
        run(page, BIG)
        nodes = page.evaluate("document.querySelector('[data-testid=frame]').textContent")
        fps = []
        for _ in range(3):
            page.keyboard.press("Home")
            page.click("[data-testid=speed]")
            page.select_option("[data-testid=speed]", "4")
            page.click("[data-testid=play]")
            fps.append(page.evaluate("""() => new Promise(done => {
                let frames = 0; const start = performance.now();
                const count = (now) => { frames++; if (now - start < 3000)
                    requestAnimationFrame(count); else done(frames * 1000 / (now - start)); };
                requestAnimationFrame(count); })"""))
            page.click("[data-testid=play]")
        browser.close()
    print(f"the big graph's timeline: {nodes}")
    print(f"Run -> first frame of an example: {statistics.median(firsts[1:]):.0f} ms (median of "
          f"{args.reps}; budget 150)")
    print(f"playing a ~2,000-node graph: {statistics.median(fps):.0f} fps (median of 3; "
          "budget 60)")


if __name__ == "__main__":
    main()
