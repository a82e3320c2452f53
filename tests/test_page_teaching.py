"""Teaching in a real browser (issue 12): captions at every step of the seed example, the page
following the player, the projector, exports, the share link and a phone's width."""
# ruff: noqa: F811  (pytest fixtures imported from test_page)

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from test_page import (  # noqa: F401  (fixtures, and the server test_live starts)
    ARTIFACTS,
    browser,
    page,
    run_example,
    serve,
    server,
    set_code,
)

# The seed example (docs' y = w·x + b), one caption per frame, as a class reads them.
SEED_CAPTIONS = [
    "x = torch.tensor(2.0, requires_grad=True) → 2 (line 5): a new leaf that requires grad: "
    "backward will fill x.grad",
    "w = torch.tensor(1.0, requires_grad=True) → 1 (line 6): a new leaf that requires grad: "
    "backward will fill w.grad",
    "b = torch.tensor(0.5, requires_grad=True) → 0.5 (line 7): a new leaf that requires grad: "
    "backward will fill b.grad",
    "w * x → 2 (line 9)",
    "y = w * x + b → 2.5 (line 9)",
    "loss = y ** 2 → 6.25 (line 10)",
    "loss.backward() (line 11) starts with ∂loss/∂loss = 1",
    "PowBackward0 (y ** 2, line 10) receives ∂loss/∂loss = 1; ∂loss/∂y = 2·y = 5, so it sends "
    "1 × 5 = 5 to y.",
    "AddBackward0 (w * x + b, line 9) receives ∂loss/∂y = 5; ∂y/∂(w * x) = 1, so it sends "
    "5 × 1 = 5 to (w * x); ∂y/∂b = 1, so it sends 5 × 1 = 5 to b.",
    "AccumulateGrad(b): b.grad was None, adds 5, now 5",
    "MulBackward0 (w * x, line 9) receives ∂loss/∂(w * x) = 5; ∂(w * x)/∂w = x = 2, so it sends "
    "5 × 2 = 10 to w; ∂(w * x)/∂x = w = 1, so it sends 5 × 1 = 5 to x.",
    "AccumulateGrad(w): w.grad was None, adds 10, now 10",
    "AccumulateGrad(x): x.grad was None, adds 5, now 5",
]


def caption(page) -> str:
    return page.inner_text("[data-testid=caption]")


def line_classes(page, line: int) -> str:
    return page.evaluate(
        "n => document.querySelector('.CodeMirror').CodeMirror.lineInfo(n - 1).bgClass || ''",
        line)


def test_every_step_of_the_seed_example_has_its_caption_and_the_page_follows(page):
    run_example(page, "basics/wx_plus_b_loss")
    page.click("[data-testid=canvas]")  # keys drive the player
    page.keyboard.press("Home")
    seen = []
    for index in range(len(SEED_CAPTIONS)):
        seen.append(caption(page))
        if index == 2:  # the leaves stand on the canvas; nothing made later shows yet
            labels = [b["texts"][0]["full"] for b in page.evaluate("window.gradtrace.drawn")]
            assert sorted(labels) == ["b", "w", "x"], labels
            rows = page.inner_text("[data-testid=inspector]")
            assert re.search(r"loss\tline 10\tfloat32\[\]\tnot yet", rows), rows
            assert page.inner_text("[data-testid=output]") == ""  # nothing printed yet
        if index == 6:  # the seed shows at the root
            root = next(b for b in page.evaluate("window.gradtrace.drawn")
                        if b["texts"][0]["full"].startswith("loss"))
            assert root["texts"][1]["full"] == "seed ∂/∂loss = 1"
        if index == 10:  # the editor: the line that made the node, and softly the call's
            assert "running-line" in line_classes(page, 9)
            assert "call-line" in line_classes(page, 11)
            page.screenshot(path=str(ARTIFACTS / "page-caption-mul.png"))
        page.keyboard.press("ArrowRight")
    assert seen == SEED_CAPTIONS
    page.keyboard.press("End")
    assert page.inner_text("[data-testid=output]").startswith("tensor(5.) tensor(10.)")


def test_presenter_mode_makes_the_graphs_text_half_as_large_again(page):
    run_example(page, "basics/wx_plus_b_loss")

    def biggest_title() -> float:
        page.wait_for_timeout(150)
        return max(b["texts"][0]["px"] for b in page.evaluate("window.gradtrace.drawn")
                   if b["kind"] == "node" and b["texts"])

    normal = biggest_title()
    page.click("[data-testid=present]")
    present = biggest_title()
    assert present >= 1.5 * normal, (normal, present)
    page.click("[data-testid=theme]")  # dark: every text colour passes WCAG AA
    ratios = page.evaluate("""() => {
      const lum = (c) => { const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map((v) => {
          v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
      const contrast = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
        return (x + 0.05) / (y + 0.05); };
      const probe = document.createElement("span"); document.body.append(probe);
      const rgb = (v) => { probe.style.color = `var(${v})`; return getComputedStyle(probe).color; };
      const found = [];
      for (const fg of ["--ink", "--muted", "--bad", "--error", "--accent", "--grad"]) {
        for (const bg of ["--bg", "--panel", "--node", "--active", "--call"]) {
          found.push([fg, bg, contrast(rgb(fg), rgb(bg))]);
        }
      }
      probe.remove();
      return found;
    }""")
    low = [r for r in ratios if r[2] < 4.5]
    assert not low, low
    controls = page.evaluate("""() => {  // every control on screen takes the theme (issue 30)
      const lum = (c) => { const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map((v) => {
          v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
      const page = lum(getComputedStyle(document.body).backgroundColor);
      return [...document.querySelectorAll("input, select, button")]
        .filter((e) => e.offsetParent && !e.disabled && !["checkbox", "range", "file"]
          .includes(e.type))
        .map((e) => { const s = getComputedStyle(e);
          const [x, y] = [lum(s.color), lum(s.backgroundColor)].sort((p, q) => q - p);
          return [e.dataset.testid || e.textContent.trim(), (x + 0.05) / (y + 0.05),
                  lum(s.backgroundColor) - page]; });
    }""")
    assert len(controls) > 10 and not [c for c in controls if c[1] < 4.5], controls
    assert not [c for c in controls if c[2] > 0.5], controls  # none left white on the dark page
    page.screenshot(path=str(ARTIFACTS / "page-present-dark.png"))


def test_pause_at_each_node_waits_for_a_key_and_space_on_run_runs(page):
    run_example(page, "basics/wx_plus_b_loss")
    page.check("[data-testid=pause-each]")
    page.select_option("[data-testid=speed]", "4")
    page.click("[data-testid=jump-backward]")
    page.click("[data-testid=canvas]")
    page.keyboard.press("Space")
    page.wait_for_function("document.querySelector('[data-testid=play]').textContent === '▶'")
    first = caption(page)
    assert first.startswith("PowBackward0"), first  # the first node, and it waits there
    page.wait_for_timeout(600)
    assert caption(page) == first
    page.keyboard.press("Space")  # a key goes on to the next node
    page.wait_for_function("document.querySelector('[data-testid=caption]').textContent"
                           ".startsWith('AddBackward0')")
    options = page.eval_on_selector("[data-testid=speed]", "s => [...s.options].map(o => o.value)")
    assert options[0] == "0.25"
    set_code(page, "import torch\nprint('ran')\n")
    page.focus("[data-testid=run]")
    page.keyboard.press("Space")  # a focused Run button runs; it does not play
    page.wait_for_function(
        "document.querySelector('[data-testid=output]').textContent === 'ran\\n'")


def test_exports_png_svg_json_and_a_standalone_file_that_replays_with_no_server(browser,
                                                                                tmp_path):
    with serve(timeout=60) as url:
        page = browser.new_page(bypass_csp=True, viewport={"width": 1400, "height": 850},
                                accept_downloads=True)
        page.goto(url.page)
        run_example(page, "basics/wx_plus_b_loss")
        files = {}
        for kind in ("png", "svg", "json", "html"):
            page.click("[data-testid=export]")
            with page.expect_download() as info:
                page.click(f"[data-testid=export-{kind}]")
            path = tmp_path / info.value.suggested_filename
            info.value.save_as(path)
            files[kind] = path
        page.close()
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = files["svg"].read_text()
    assert svg.startswith("<svg") and ">loss = 6.25<" in svg and ">w * x = 2<" in svg
    doc = json.loads(files["json"].read_text())
    assert doc["schema"] == "gradtrace/1" and len(doc["passes"]) == 1
    # The server is gone: the file alone replays the run in a fresh browser context.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1400, "height": 850})
    errors: list[str] = []
    offline = context.new_page()
    offline.on("pageerror", lambda e: errors.append(str(e)))
    offline.goto(files["html"].as_uri())
    offline.wait_for_function("document.querySelector('[data-testid=status]').textContent"
                              ".startsWith('a saved run')")
    assert offline.is_disabled("[data-testid=run]")
    offline.click("[data-testid=canvas]")
    offline.keyboard.press("Home")
    for _ in range(10):
        offline.keyboard.press("ArrowRight")
    assert caption(offline) == SEED_CAPTIONS[10]
    offline.keyboard.press("End")
    assert offline.inner_text("[data-testid=output]").startswith("tensor(5.)")
    offline.screenshot(path=str(ARTIFACTS / "page-standalone.png"))
    assert not errors, errors
    context.close()


def test_a_share_link_carries_the_code_and_waits_for_its_click(browser, page, server):
    code = "import torch\nx = torch.tensor(3.0, requires_grad=True)\n(x * x).backward()\n" * 20
    set_code(page, code)
    page.click("[data-testid=share]")
    page.wait_for_function("document.querySelector('[data-testid=share-link]').value !== ''")
    link = page.input_value("[data-testid=share-link]")
    assert not page.is_visible("[data-testid=share-run]")  # no run yet: the code alone
    parts = urlsplit(link)
    assert parts.fragment.startswith("z=") and "token" not in link
    assert len(link) < len(code)  # deflated
    opened = browser.new_page(bypass_csp=True, viewport={"width": 1400, "height": 850})
    opened.goto(f"{server.page}#{parts.fragment}")  # the link, on a page with the server's token
    opened.wait_for_function("document.querySelector('.CodeMirror').CodeMirror.getValue() !== ''")
    assert opened.evaluate("document.querySelector('.CodeMirror').CodeMirror.getValue()") == code
    assert opened.is_visible("[data-testid=run-shared]")
    opened.wait_for_timeout(500)
    assert opened.inner_text("[data-testid=status]") == "ready"  # nothing ran
    opened.click("[data-testid=run-shared]")
    opened.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')")
    assert not opened.is_visible("[data-testid=run-shared]")
    opened.click("[data-testid=share]")  # with a run: the run itself too, as one file
    with opened.expect_download() as download:
        opened.click("[data-testid=share-run]")
    assert download.value.suggested_filename == "gradtrace-run.html"
    assert '"__GRADTRACE_TRACE__"' not in Path(download.value.path()).read_text()
    opened.close()
    stranger = browser.new_context(bypass_csp=True).new_page()  # no token, no session
    stranger.goto(f"{server}/#{parts.fragment}")
    stranger.wait_for_function("document.querySelector('.CodeMirror').CodeMirror.getValue() "
                               "!== ''")
    assert stranger.evaluate("document.querySelector('.CodeMirror').CodeMirror.getValue()") \
        == code  # the code, to read
    assert stranger.is_visible("[data-testid=token-needed]")  # what it needs to run it
    assert not stranger.is_visible("[data-testid=run-shared]")
    assert stranger.is_disabled("[data-testid=run]")
    stranger.screenshot(path=str(ARTIFACTS / "share_link_without_token.png"))
    stranger.context.close()


def test_a_phone_reaches_run_the_canvas_and_problems(browser, server):
    phone = browser.new_page(bypass_csp=True, viewport={"width": 390, "height": 844},
                             has_touch=True)
    phone.goto(server.page)
    phone.wait_for_function("document.querySelector('[data-testid=examples]').options.length > 40")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    set_code(phone, "import torch\nx = torch.tensor(2.0, requires_grad=True)\n"
                    "y = x.detach() * 2\nprint(x.grad)\n")
    phone.locator("[data-testid=run]").tap()
    phone.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')")
    for testid in ("run", "canvas", "caption", "play", "problems"):
        target = phone.locator(f"[data-testid={testid}]")
        target.evaluate("e => e.scrollIntoView({ block: 'center' })")
        box = target.bounding_box()
        assert box and box["width"] > 0 and box["x"] >= 0 and box["x"] + box["width"] <= 391
        centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        assert phone.evaluate("([x, y, id]) => document.elementFromPoint(x, y)"
                              ".closest(`[data-testid=${id}]`) !== null",
                              [centre[0], centre[1], testid]), testid  # not covered
    phone.locator("[data-testid=problems]").scroll_into_view_if_needed()
    assert "x" in phone.inner_text("[data-testid=problems]")
    phone.screenshot(path=str(ARTIFACTS / "page-phone.png"), full_page=True)
    phone.close()
