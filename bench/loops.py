"""Training loops on a warm server, Run to done, against the same snippet run plainly.

    python bench/loops.py [--reps N] [--no-page]

For the tutorial's 2,000-pass polynomial fit, its custom-Function (Legendre) version and a
learner's 1,000-step RNN, prints medians of:
  plain        the snippet in a warm interpreter, one torch thread (bench/live.plain_seconds)
  client       a raw Socket.IO client: `run` -> the first `graph` event, and -> `done`
  page         headless Chromium: Run clicked -> the first box drawn, and -> status "done"
  budget       loops: 3x plain + 300 ms, first picture within 500 ms; the RNN: 1.5x plain + 100 ms
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from capture import legendre_fit, poly_fit
from live import Timed, plain_seconds, start_server
from page import FLAGS
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from models import RNN  # noqa: E402  (a learner's 1,000-step RNN)

LOOPS = {
    "polynomial fit, 2,000 passes": ("".join(poly_fit(2000)), 3.0, 0.3),
    "Legendre P3 fit, 2,000 passes": ("".join(legendre_fit(2000)), 3.0, 0.3),
    "1,000-step RNN": (RNN, 1.5, 0.1),
}

PAGE_RUN = """async code => {
    document.querySelector('.CodeMirror').CodeMirror.setValue(code);
    const status = document.querySelector('[data-testid=status]');
    const started = performance.now();
    let drawn = null;
    document.querySelector('[data-testid=run]').click();
    await new Promise(done => {
        const look = () => {
            if (drawn === null && (window.gradtrace.drawn || []).length) {
                drawn = performance.now() - started;
            }
            if (status.textContent.startsWith('done') && performance.now() - started > 50) done();
            else requestAnimationFrame(look);
        };
        requestAnimationFrame(look);
    });
    return [drawn, performance.now() - started];
}"""


def in_page(url: str, code: str, reps: int) -> tuple[float, float]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        page = browser.new_page(bypass_csp=True, viewport={"width": 1400, "height": 850})
        page.goto(url)
        page.wait_for_function("document.querySelector('[data-testid=status]').textContent "
                               "!== ''")
        times = [page.evaluate(PAGE_RUN, code) for _ in range(reps)]
        browser.close()
    return (statistics.median(t[0] for t in times if t[0] is not None) / 1e3,
            statistics.median(t[1] for t in times) / 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-page", action="store_true", help="the raw client only")
    args = parser.parse_args()
    proc, url, token, _ = start_server()
    try:
        client = Timed(url, token)
        for name, (code, times, plus) in LOOPS.items():
            plain = plain_seconds(code, args.reps)
            runs = [client.run(code) for _ in range(args.reps)]
            graph = statistics.median(r["graph"] for r in runs)
            done = statistics.median(r["done"] for r in runs)
            budget = times * plain + plus
            line = (f"{name:31} plain {plain * 1e3:6.0f} ms | client: graph {graph * 1e3:5.0f} ms,"
                    f" done {done * 1e3:6.0f} ms ({done / plain:.2f}x)")
            if not args.no_page:
                first, page_done = in_page(f"{url}/?token={token}", code, args.reps)
                line += (f" | page: first box {first * 1e3:5.0f} ms, done {page_done * 1e3:6.0f}"
                         f" ms ({page_done / plain:.2f}x)")
                done = page_done
            ok = "ok" if done <= budget else "OVER"
            print(f"{line} | budget {budget * 1e3:.0f} ms: {ok}", flush=True)
        client.sio.disconnect()
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
