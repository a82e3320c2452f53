"""A long loop in the page (issue 25): the first picture comes before the run ends, progress
moves while it runs, a second run in the same tab ends as the first did, and a dropped socket
comes back with a clear word on what became of the run; "keep passes" chooses the passes a loop
keeps. Real server, real chromium."""

# ruff: noqa: F811 (the fixtures test_page.py defines are imported, then asked for by name)
import json
import time
import urllib.request

from gradtrace.trace.passplan import DEFAULT, parse_passes
from test_page import ARTIFACTS, browser, page, server, set_code  # noqa: F401  (fixtures)

# PyTorch's "Learning PyTorch with Examples": the polynomial fit, 2,000 iterations.
LOOP = """import torch
import math
x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)
a = torch.randn((), requires_grad=True)
b = torch.randn((), requires_grad=True)
c = torch.randn((), requires_grad=True)
d = torch.randn((), requires_grad=True)
learning_rate = 1e-6
for t in range(2000):
    y_pred = a + b * x + c * x ** 2 + d * x ** 3
    loss = (y_pred - y).pow(2).sum()
    if t % 100 == 99:
        print(t, loss.item())
    loss.backward()
    with torch.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad
        a.grad = None
        b.grad = None
        c.grad = None
        d.grad = None
print(f'Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3')
"""

# What the page shows while a run goes, watched from inside the page: every status and progress
# text, when the first box was drawn and when the status said "done". It starts counting once
# the status has left the last run's "done".
WATCH = """() => {
  const status = document.querySelector('[data-testid=status]');
  const progress = document.querySelector('[data-testid=progress]');
  const seen = window.watched = { begun: false, drawnAt: null, doneAt: null, statuses: [],
                                  progress: [], started: performance.now() };
  const look = () => {
    const s = status.textContent;
    if (!seen.begun && s.startsWith('done')) { return; }
    seen.begun = true;
    if (seen.statuses.at(-1) !== s) { seen.statuses.push(s); }
    if (s.startsWith('done')) {
      if (seen.doneAt === null) { seen.doneAt = performance.now() - seen.started; }
      return;
    }
    if (seen.drawnAt === null && window.gradtrace.drawn.length) {
      seen.drawnAt = performance.now() - seen.started;
    }
    if (s === 'running' && !progress.hidden && seen.progress.at(-1) !== progress.textContent) {
      seen.progress.push(progress.textContent);
    }
  };
  setInterval(look, 10);
  const observer = new MutationObserver(look);
  for (const node of [status, progress]) {
    observer.observe(node, { childList: true, characterData: true, subtree: true });
  }
}"""

DONE = "document.querySelector('[data-testid=status]').textContent.startsWith('done')"
SLOW = 120_000  # ms: a loaded two-core machine with a busy recorder, several times the usual


def run_loop(page) -> dict:
    """Runs the loop and returns what the page showed on the way, with the seconds it took."""
    page.evaluate(WATCH)
    started = time.monotonic()
    page.click("[data-testid=run]")
    page.wait_for_function(DONE, timeout=SLOW)
    took = time.monotonic() - started
    seen = page.evaluate("(({begun, drawnAt, doneAt, statuses, progress}) => "
                         "({begun, drawnAt, doneAt, statuses, progress}))(window.watched)")
    seen["took"] = took
    return seen


def passes_in(progress: list[str]) -> list[int]:
    """The pass counts the progress texts showed ("1,234 passes · loss 13.2 · 2.1 s")."""
    return [int(text.split(" ")[0].replace(",", "")) for text in progress
            if " pass" in text.split(" · ")[0]]


def test_a_long_loop_draws_as_it_runs_and_runs_again_in_the_same_tab(page):
    set_code(page, LOOP)
    first = run_loop(page)
    assert first["drawnAt"] is not None and first["drawnAt"] < first["doneAt"], first
    counts = passes_in(first["progress"])
    assert len(set(counts)) >= 2 and counts == sorted(counts), first["progress"]  # it moved
    assert all("· loss " in text for text in first["progress"] if " pass" in text), first
    assert page.inner_text("[data-testid=status]") == "done"
    assert page.inner_text("[data-testid=progress]").startswith("2,000 passes in "), first
    assert page.get_attribute("[data-testid=losses]", "data-current") != ""  # the loss chart
    page.screenshot(path=str(ARTIFACTS / "page-loop-done.png"))

    second = run_loop(page)  # the same tab: nothing of the first run slows it
    assert second["drawnAt"] is not None and second["drawnAt"] < second["doneAt"], second
    assert len(set(passes_in(second["progress"]))) >= 2, second["progress"]
    assert second["took"] < 3 * first["took"] + 10, (first["took"], second["took"])
    assert page.inner_text("[data-testid=status]") == "done"


# Every WebSocket the page opens, so that the test can drop it as a network would.
SOCKETS = """(() => {
  const Native = window.WebSocket;
  window.openSockets = [];
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    window.openSockets.push(ws);
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
})();"""


def health(server) -> dict:
    return json.load(urllib.request.urlopen(server + "/healthz", timeout=5))


def test_a_dropped_socket_reconnects_and_says_the_run_was_stopped(page, server):
    page.add_init_script(SOCKETS)
    page.reload()
    page.wait_for_function("document.querySelector('[data-testid=examples]').options.length > 40")
    page.evaluate("""() => {
      const status = document.querySelector('[data-testid=status]');
      window.statuses = [];
      new MutationObserver(() => window.statuses.push(status.textContent))
        .observe(status, { childList: true, characterData: true, subtree: true });
    }""")
    set_code(page, LOOP.replace("range(2000)", "range(200_000)"))  # still going when dropped
    page.click("[data-testid=run]")
    page.wait_for_function(  # running, and some passes in
        "Number((document.querySelector('[data-testid=progress]').textContent"
        ".match(/^([0-9,]+) pass/) || [0, '0'])[1].replaceAll(',', '')) >= 50", timeout=SLOW)
    assert health(server)["running"] == 1
    page.wait_for_function(  # the chart grows too (drawn on the page's next frame)
        "document.querySelector('[data-testid=losses]').getAttribute('data-current') !== null",
        timeout=SLOW)
    page.screenshot(path=str(ARTIFACTS / "page-loop-running.png"))
    page.evaluate("window.openSockets.filter((ws) => ws.readyState === 1)"
                  ".forEach((ws) => ws.close())")
    page.wait_for_function(  # back: it says what happened to the run
        "document.querySelector('[data-testid=status]').textContent.includes('reconnected')",
        timeout=30_000)
    statuses = page.evaluate("window.statuses")
    assert "run stopped: connection lost · reconnecting…" in statuses, statuses
    shown = page.inner_text("[data-testid=status]")
    assert shown == "run stopped: connection lost · reconnected", shown
    assert "server stops a run when its page disconnects" in page.get_attribute(
        "[data-testid=status]", "title")
    assert page.evaluate("window.gradtrace.drawn.length") > 0  # what came is still shown
    assert page.get_attribute("[data-testid=status]", "class") == "status error"
    assert page.is_enabled("[data-testid=run]") and not page.is_enabled("[data-testid=stop]")
    page.screenshot(path=str(ARTIFACTS / "page-loop-dropped.png"))
    deadline = time.monotonic() + 30  # the server stopped the run when the socket dropped
    while health(server)["running"]:
        assert time.monotonic() < deadline, "the server still runs the dropped page's run"
        time.sleep(0.1)
    set_code(page, "import torch\nx = torch.ones(2, requires_grad=True)\n"
                   "(x * 3).sum().backward()\n")
    page.click("[data-testid=run]")  # the new connection runs
    page.wait_for_function(DONE, timeout=SLOW)
    assert page.inner_text("[data-testid=status]") == "done"
    assert page.evaluate("window.openSockets.length") >= 2  # a new connection


# Every run request the page sends, as the server reads it: the socket.io frames `42["run", {...}]`.
SENT_RUNS = """(() => {
  const send = WebSocket.prototype.send;
  window.sentRuns = [];
  WebSocket.prototype.send = function (data) {
    if (typeof data === 'string' && data.startsWith('42["run",')) {
      window.sentRuns.push(JSON.parse(data.slice(2))[1]);
    }
    return send.call(this, data);
  };
})();"""

# The status texts from now on (run() sets "running" at once, so a "done" after it is this run's).
STATUSES = """() => {
  const status = document.querySelector('[data-testid=status]');
  window.statuses = [];
  new MutationObserver(() => window.statuses.push(status.textContent))
    .observe(status, { childList: true, characterData: true, subtree: true });
}"""


def run_and_wait(page, until: str) -> None:
    page.evaluate(STATUSES)
    page.click("[data-testid=run]")
    page.wait_for_function(f"window.statuses.some((s) => {until})", timeout=SLOW)


def kept_passes(page) -> list[int]:
    return page.eval_on_selector("[data-testid=passes]",
                                 "s => [...s.options].map((o) => Number(o.value))")


def test_keep_passes_chooses_the_passes_a_loop_keeps_and_shows_a_bad_spec_refused(page):
    field = "[data-testid=keep-passes]"
    page.add_init_script(SENT_RUNS)
    page.reload()
    page.wait_for_function("document.querySelector('[data-testid=examples]').options.length > 40")
    assert page.input_value(field) == "" and page.get_attribute(field, "placeholder") == "default"
    assert DEFAULT in page.get_attribute(".keep-passes", "title")  # the tooltip says what it is
    presets = page.eval_on_selector(field, "i => [...i.list.options].map((o) => o.value)")
    assert presets[0] == DEFAULT and len(presets) >= 4
    for spec in presets:  # the suggestions are specs the server reads
        parse_passes(spec)
    set_code(page, LOOP.replace("range(2000)", "range(200)"))

    run_and_wait(page, "s === 'done'")  # the default: the field is left out of the request
    assert page.evaluate("window.sentRuns.at(-1)") == {
        "code": LOOP.replace("range(2000)", "range(200)"), "device": "cpu"}
    assert kept_passes(page) == [*range(10), 15, 31, 63, 127, *range(190, 200)]

    page.fill(field, "first2,last1")
    page.reload()  # the choice stays for the tab, and the code in the address
    page.wait_for_function("document.querySelector('[data-testid=examples]').options.length > 40")
    assert page.input_value(field) == "first2,last1"
    run_and_wait(page, "s === 'done'")
    assert page.evaluate("window.sentRuns.at(-1).passes") == "first2,last1"
    assert kept_passes(page) == [0, 1, 199]
    assert page.inner_text("[data-testid=progress]").startswith("200 passes in ")
    assert page.get_attribute("[data-testid=losses]", "data-current") == "199"  # the chart: all
    page.select_option("[data-testid=passes]", "1")
    page.wait_for_function("document.querySelector('[data-testid=losses]').dataset.current === '1'")
    page.set_viewport_size({"width": 1400, "height": 900})
    page.screenshot(path=str(ARTIFACTS / "page-keep-passes.png"))

    page.fill(field, "first2,lastx")  # readable here, refused by the server with its reason
    run_and_wait(page, "s.startsWith('cannot read')")
    shown = page.inner_text("[data-testid=status]")
    assert shown.startswith("cannot read 'lastx' in --passes 'first2,lastx': use items such as")
    assert page.get_attribute("[data-testid=status]", "class") == "status error"
    assert page.get_attribute(field, "aria-invalid") == "true"
    assert page.is_enabled("[data-testid=run]") and not page.is_enabled("[data-testid=stop]")
    page.screenshot(path=str(ARTIFACTS / "page-keep-passes-refused.png"))
    page.set_viewport_size({"width": 760, "height": 900})
    page.screenshot(path=str(ARTIFACTS / "page-keep-passes-narrow.png"))
    page.set_viewport_size({"width": 1400, "height": 900})

    sent = page.evaluate("window.sentRuns.length")
    page.fill(field, "<img src=x onerror=alert(1)>")  # refused here: nothing is sent
    page.click("[data-testid=run]")
    assert page.inner_text("[data-testid=status]").startswith("keep passes may hold only letters")
    assert page.evaluate("window.sentRuns.length") == sent
    assert page.eval_on_selector("header", "h => h.querySelectorAll('img:not([data-testid])')"
                                           ".length") == 0
    page.fill(field, "")  # back to the default: valid again, and nothing kept for a reload
    assert page.get_attribute(field, "aria-invalid") is None
    assert page.evaluate("sessionStorage.getItem('gradtrace-passes')") is None
