"""The page in headless Chromium, measured: animation frame rate, Run -> first frame, and the
collapsible groups.

    python bench/page.py [--reps N]

Starts `gradtrace serve`, opens the page with Playwright (Debian's chromium), and prints medians:
  first frame   Run clicked -> the first frame of the graph painted, for an example (budget 150 ms)
  first view    Run clicked -> the first picture of a 10k-node transformer from the server's view
                layout, its top level collapsed (budget 1 s)
  expand        a click on a collapsed module of about 2,000 nodes -> its inside drawn (100 ms)
  fps           frames per second while playing a graph of about 2,000 nodes, expanded (60)
  pan / zoom    frames per second while dragging or wheel-zooming a graph of about 50,000 nodes,
                fully expanded, zoomed out to fit and zoomed in to scale 1 (budget 60)
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


HUGE = BIG.replace("range(1000)", "range(16667)")  # 50,000 nodes
TRANSFORMER = """import torch
torch.manual_seed(0)
layer = torch.nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.0)
encoder = torch.nn.TransformerEncoder(layer, num_layers=200, enable_nested_tensor=False)
loss = encoder(torch.randn(4, 2, 16, requires_grad=True)).pow(2).mean()
loss.backward()
"""
DEEP_MODULE = """import torch
class Deep(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(0.5))

    def forward(self, x):
        for _ in range(700):
            x = torch.tanh(x * self.w + 1)
        return x

deep = Deep()
deep(torch.ones(3)).sum().backward()
"""

# Per animation frame for 3 s: one synthetic drag step or wheel notch on the canvas; the page
# draws once per frame, so the frames counted are frames drawn.
MOVE_FPS = """kind => new Promise(done => {
    const canvas = document.querySelector('[data-testid=canvas]');
    const r = canvas.getBoundingClientRect();
    const [x, y] = [r.left + r.width / 2, r.top + r.height / 2];
    const opts = (dx) => ({ clientX: x + dx, clientY: y, pointerId: 7, bubbles: true,
                            cancelable: true });
    if (kind === 'pan') canvas.dispatchEvent(new PointerEvent('pointerdown', opts(0)));
    let frames = 0; const start = performance.now();
    const step = (now) => {
        frames++;
        const swing = Math.sin(frames / 10) * 120;
        if (kind === 'pan') window.dispatchEvent(new PointerEvent('pointermove', opts(swing)));
        else canvas.dispatchEvent(new WheelEvent('wheel', { ...opts(0),
                                                            deltaY: frames % 40 < 20 ? -30 : 30 }));
        if (now - start < 3000) requestAnimationFrame(step);
        else {
            if (kind === 'pan') window.dispatchEvent(new PointerEvent('pointerup', opts(swing)));
            done(frames * 1000 / (now - start));
        }
    };
    requestAnimationFrame(step);
})"""


def move_fps(page, kind: str, zoomed_in: bool) -> float:
    page.dblclick("[data-testid=canvas]")  # fit the whole graph
    if zoomed_in:
        page.evaluate("""() => { const c = document.querySelector('[data-testid=canvas]');
            const r = c.getBoundingClientRect();
            for (let i = 0; i < 40; i++) c.dispatchEvent(new WheelEvent('wheel', { deltaY: -100,
                clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, cancelable: true }));
        }""")
    return page.evaluate(MOVE_FPS, kind)


def run(page, code: str) -> None:
    page.evaluate("code => document.querySelector('.CodeMirror').CodeMirror.setValue(code)", code)
    page.click("[data-testid=run]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')",
        timeout=120000)


def relaid(page, action) -> None:
    """Do ``action``, which asks the server for a view layout, and wait until it is drawn."""
    views = page.evaluate("window.gradtrace.views")
    action()
    page.wait_for_function(f"window.gradtrace.views > {views} && window.gradtrace.layouts === 0",
                           timeout=120000)


def first_view(page, code: str) -> tuple[float, float]:
    """Run -> the first frame drawn from the server's view layout, and of that, the first graph
    arrived -> that frame, in ms."""
    relaid(page, lambda: run(page, code))
    return page.evaluate("""() => {
        const at = (name) => performance.getEntriesByName(name)[0].startTime;
        return [at('gradtrace:view') - at('gradtrace:run'),
                at('gradtrace:view') - at('gradtrace:graph')]; }""")


def expand_ms(page) -> float:
    """Open the one collapsed box, then close it again: the opening's click -> drawn, in ms."""
    page.click("[data-testid=fit]")
    box = next(d for d in page.evaluate("window.gradtrace.drawn") if d.get("open") is False)
    canvas = page.locator("[data-testid=canvas]").bounding_box()
    point = (canvas["x"] + box["x"] + box["w"] / 2, canvas["y"] + box["y"] + box["h"] / 2)
    relaid(page, lambda: page.mouse.click(*point))
    took = page.evaluate("""() => {
        const view = performance.getEntriesByName('gradtrace:view').at(-1).startTime;
        return view - performance.getEntriesByName('gradtrace:toggle').at(-1).startTime; }""")
    relaid(page, lambda: page.click("[data-testid=collapse-all]"))
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=9)
    args = parser.parse_args()
    with serve(timeout=120) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        page = browser.new_page(bypass_csp=True, viewport={"width": 1400, "height": 850})
        page.goto(url.page)  # the token travels in the query, as printed
        firsts = []
        for _ in range(args.reps + 1):
            run(page, EXAMPLE)
            firsts.append(page.evaluate(
                "performance.measure('m', 'gradtrace:run', 'gradtrace:first-frame').duration"))
        views = [first_view(page, TRANSFORMER) for _ in range(3)]
        transformer = page.evaluate("window.gradtrace.drawn.length")
        run(page, DEEP_MODULE)
        expands = [expand_ms(page) for _ in range(args.reps)]
        run(page, BIG)
        relaid(page, lambda: page.click("[data-testid=expand-all]"))
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
        run(page, HUGE)
        relaid(page, lambda: page.click("[data-testid=expand-all]"))
        huge = page.evaluate("window.gradtrace.drawn.length")
        moves = {(kind, zoomed): statistics.median(move_fps(page, kind, zoomed) for _ in range(3))
                 for kind in ("pan", "zoom") for zoomed in (False, True)}
        browser.close()
    print(f"the big graph's timeline: {nodes}")
    print(f"Run -> first frame of an example: {statistics.median(firsts[1:]):.0f} ms (median of "
          f"{args.reps}; budget 150)")
    print(f"Run -> first view of a 10k-node transformer ({transformer} boxes drawn): "
          f"{statistics.median(v[0] for v in views):.0f} ms, of which its graph arrived -> "
          f"drawn {statistics.median(v[1] for v in views):.0f} ms (median of 3; budget 1000)")
    print(f"opening a module of 2,100 nodes: {statistics.median(expands):.0f} ms (median of "
          f"{args.reps}; budget 100)")
    print(f"playing a ~2,000-node graph, expanded: {statistics.median(fps):.0f} fps (median of 3;"
          " budget 60)")
    print(f"a ~50,000-node graph, expanded ({huge} boxes on screen when fitted), median of 3, "
          "budget 60:")
    for (kind, zoomed), fps_ in moves.items():
        print(f"  {kind} {'at scale 1' if zoomed else 'fitted'}: {fps_:.0f} fps")


if __name__ == "__main__":
    main()
