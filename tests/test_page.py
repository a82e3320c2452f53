"""The page in a real browser (Debian's chromium via Playwright) against a real server."""

import base64
import json
import os
import re
import time
import urllib.request
import zlib
from pathlib import Path
from urllib.parse import quote

import pytest
from models import TUTORIAL

from conftest import ROOT, example_paths
from test_live import serve

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it")
        pytest.skip("no chromium here (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server():
    with serve(timeout=60) as url:
        yield url


@pytest.fixture
def page(browser, server):
    # The tests' pages set the server's Content-Security-Policy aside (bypass_csp): Playwright's
    # wait_for_function evaluates its predicate with eval, which the policy forbids.
    # test_the_page_works_under_its_own_content_security_policy keeps it.
    page = browser.new_page(bypass_csp=True, viewport={"width": 1400, "height": 850})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.page)
    page.wait_for_function("document.querySelector('[data-testid=examples]').options.length > 40")
    yield page
    assert not errors, errors
    page.close()


def set_code(page, code: str) -> None:
    page.evaluate("c => document.querySelector('.CodeMirror').CodeMirror.setValue(c)", code)


def run_code(page, code: str) -> None:
    set_code(page, code)
    page.click("[data-testid=run]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')")


def status(page) -> str:
    return page.inner_text("[data-testid=status]")


def run_example(page, name: str) -> None:
    page.wait_for_function(  # the menu fills once /api/examples answers
        "name => [...document.querySelector('[data-testid=examples]').options]"
        ".some(o => o.text.startsWith(name + ' '))", arg=name)
    value = page.eval_on_selector(
        "[data-testid=examples]",
        f"s => [...s.options].find(o => o.text.startsWith('{name} ')).value")
    page.select_option("[data-testid=examples]", value=value)
    page.click("[data-testid=run]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')",
        timeout=30000)


def canvas_pixels(page) -> str:
    return page.eval_on_selector("[data-testid=canvas]", "c => c.toDataURL()")


def test_seed_example_steps_to_the_gradients(page):
    run_example(page, "basics/wx_plus_b_loss")
    assert page.inner_text("[data-testid=status]") == "done"
    page.keyboard.press("Home")
    for _ in range(3):
        page.click("[data-testid=step-forward]")
    forward = canvas_pixels(page)
    page.screenshot(path=str(ARTIFACTS / "page-forward.png"))
    page.click("[data-testid=jump-backward]")
    seen = []  # (frame, the leaves' grads in the inspector), stepping through the backward pass
    while True:
        inspector = page.inner_text("[data-testid=inspector]")
        rows = {line.split("\t")[0]: line.split("\t")[-1] for line in inspector.splitlines()}
        seen.append((page.inner_text("[data-testid=frame]"), rows["x"], rows["w"], rows["b"]))
        if seen[-1][0].startswith("13/13"):
            break
        page.click("[data-testid=step-forward]")
        assert len(seen) < 20, seen
    backward = canvas_pixels(page)
    page.screenshot(path=str(ARTIFACTS / "page-backward.png"))
    assert forward != backward
    assert seen[0][1:] == ("grad —", "grad —", "grad —")  # nothing before the engine ran
    assert seen[-1][1:] == ("grad 5", "grad 10", "grad 5")
    for earlier, later in zip(seen, seen[1:], strict=False):  # once filled in, a .grad stays
        for before, after in zip(earlier[1:], later[1:], strict=True):
            assert before == "grad —" or before == after, seen


def test_error_example_shows_its_line_in_problems(page):
    run_example(page, "pitfalls/inplace_add_on_leaf")
    problems = page.inner_text("[data-testid=problems]")
    assert "line 6:" in problems and "inplace_leaf" in problems
    page.screenshot(path=str(ARTIFACTS / "page-error.png"))


def test_problems_lead_with_warnings_and_group_what_is_expected(page):
    """Issue 29: one argmax cuts a model's four parameters off; their .grad is read as None
    by the optimizer. One warning names all four; the inputs and the intermediate are one
    folded line each under "expected"."""
    run_code(page, "import torch\n"
             "model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), "
             "torch.nn.Linear(8, 3))\n"
             "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
             "x = torch.randn(16, 4)\ntarget = torch.randint(0, 3, (16,))\n"
             "logits = model(x)\npred = logits.argmax(dim=1)\n"
             "loss = (pred != target).float().mean()\nloss.requires_grad_()\n"
             "loss.backward()\nopt.step()\n")
    items = page.eval_on_selector_all("[data-testid=problems] > li", "els => els.map(e => "
                                      "[e.className, e.dataset.testid || '', e.innerText])")
    assert [i[0] for i in items] == ["warning", "notes", "notes"], items
    assert items[0][2].startswith("line 7: model.0.weight, model.0.bias, model.2.weight, "
                                  "model.2.bias: [non_differentiable]")
    assert [i[1] for i in items[1:]] == ["notes", "expected"]
    page.click("[data-testid=expected] summary")
    expected = page.inner_text("[data-testid=expected]")
    assert "x (line 4), target (line 5): need no gradient" in expected
    assert "logits (line 6): intermediates" in expected
    page.screenshot(path=str(ARTIFACTS / "page-problems.png"))


def test_a_run_says_how_it_was_seeded_and_can_be_left_to_chance(page):
    probe = "import torch\nprint(torch.rand(1).item())\n"
    run_code(page, probe)
    setup = page.inner_text("[data-testid=run-setup]")
    assert setup == "torch, random and numpy seeded with 0; 1 torch thread"
    seeded = page.inner_text("[data-testid=output]")
    page.uncheck("[data-testid=seeded]")
    run_code(page, probe)
    assert page.inner_text("[data-testid=run-setup]") == "unseeded; 1 torch thread"
    assert page.inner_text("[data-testid=output]") != seeded
    page.screenshot(path=str(ARTIFACTS / "page-unseeded.png"))


def test_every_example_runs_on_screen(page):
    names = page.eval_on_selector("[data-testid=examples]",
                                  "s => [...s.options].slice(1).map(o => o.text.split(' ')[0])")
    assert len(names) == len(example_paths())
    for name in names:
        run_example(page, name)
        assert page.inner_text("[data-testid=status]").startswith("done")
        page.screenshot(path=str(ARTIFACTS / f"example-{name.replace('/', '-')}.png"))


def test_the_device_menu_lists_this_servers_devices_and_says_why_cuda_is_absent(page, server):
    health = json.load(urllib.request.urlopen(server + "/healthz"))
    cuda = health["capabilities"]["devices"][1]
    options = page.eval_on_selector(
        "[data-testid=device]", "s => [...s.options].map(o => [o.value, o.text, o.disabled])")
    assert options[0] == ["cpu", "cpu", False]
    if cuda["available"]:
        assert options[1] == ["cuda", cuda["label"], False]
    else:
        assert options[1] == ["cuda", f"cuda — unavailable: {cuda['reason']}", True]
        assert cuda["reason"] in page.get_attribute("[data-testid=device]", "title")
    run_example(page, "gpu/cuda_matmul")  # a GPU example picks cuda where there is one
    assert page.eval_on_selector("[data-testid=device]", "s => s.value") == (
        "cuda" if cuda["available"] else "cpu")


def test_a_tensor_off_the_cpu_names_its_device_on_its_node(page):
    """A GPU run shows cuda:0 on every node. The meta device (shapes, no values) is another
    device this CPU host has, so it stands in for one here; tests/test_gpu.py does it on cuda."""
    run_code(page, "import torch\nx = torch.ones(3, device='meta', requires_grad=True)\n"
                   "y = (x * 2).sum()\ny.backward()\n")
    page.click("[data-testid=fit]")
    page.wait_for_timeout(300)
    boxes = page.evaluate("window.gradtrace.drawn")
    nodes = [b for b in boxes if b["kind"] == "node"]
    assert nodes and all("meta" in [t["text"] for t in b["texts"]] for b in nodes), nodes
    page.screenshot(path=str(ARTIFACTS / "device-on-nodes.png"))


def test_passes_list_and_inspecting_a_variable(page):
    run_example(page, "basics/accumulate_two_outputs")
    page.keyboard.press("End")
    options = page.eval_on_selector("[data-testid=passes]", "s => [...s.options].map(o => o.text)")
    assert len(options) == 2 and options[0].startswith("pass 0 · line")
    page.select_option("[data-testid=passes]", "1")
    assert "(pass 1)" in page.inner_text("[data-testid=frame]")
    page.select_option("[data-testid=passes]", "0")
    page.click("[data-testid=inspector] tr[data-node='0']")  # y1 = x * 2, run by pass 0
    detail = page.inner_text("[data-testid=inspector]")
    assert "MulBackward0" in detail and "\ngrad 1\n" in detail and "sends → x: 2" in detail
    page.screenshot(path=str(ARTIFACTS / "page-passes.png"))


def test_teaching_view_folds_plumbing_and_internals_shows_it(page):
    run_example(page, "training/sgd_step_linear")
    teaching = canvas_pixels(page)
    page.click("[data-testid=internals]")
    assert page.inner_text("[data-testid=internals]") == "Internals"
    page.screenshot(path=str(ARTIFACTS / "page-internals.png"))
    assert canvas_pixels(page) != teaching


def test_code_over_the_limit_is_not_sent_and_the_page_says_why(page):
    sent: list[str] = []  # the socket's frames, from a reload on: the page connects afresh
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame)))
    page.reload()
    set_code(page, "x = 1\n" * 12000)  # 72,000 bytes
    page.click("[data-testid=run]")
    assert status(page) == "the code is 70.3 KiB; the limit is 64 KiB"
    assert page.get_attribute("[data-testid=status]", "class") == "status error"
    assert page.is_enabled("[data-testid=run]")
    run_code(page, "x = 1\n")  # sent after anything queued before it, so it comes last
    runs = [frame for frame in sent if frame.startswith('42["run"')]
    assert len(runs) == 1 and len(runs[0]) < 100, runs


def drawn_boxes(page, kind: str = "node") -> list[dict]:
    """The boxes of ``kind`` of the next frame drawn (pan and zoom draw on the next animation
    frame)."""
    drawn = page.evaluate(
        "new Promise(done => requestAnimationFrame(() => done(window.gradtrace.drawn)))")
    return [box for box in drawn if box["kind"] == kind]


def boxes_overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


@pytest.mark.parametrize("name", ["basics/wx_plus_b_loss", "modules/compute_gradients",
                                  "custom_functions/custom_linear_model",
                                  "training/manual_linear_xor"])
def test_no_boxes_overlap_and_labels_fit(page, name):
    run_example(page, name)
    for view in ("teaching", "internals"):
        boxes = drawn_boxes(page)
        assert boxes, "nothing drawn"
        for i, a in enumerate(boxes):
            assert not any(boxes_overlap(a, b) for b in boxes[i + 1:]), (view, a)
            for text in a["texts"]:
                assert text["width"] <= text["room"] + 0.5, (view, text)
        if name == "basics/wx_plus_b_loss":  # the seed's labels fit whole, with no ellipsis
            assert all(t["text"] == t["full"] for box in boxes for t in box["texts"]), boxes
        page.click("[data-testid=internals]")


def test_the_inspector_pictures_a_tensor_its_grad_and_the_source_line(page):
    run_example(page, "modules/compute_gradients")
    page.click("[data-testid=inspector] tr[data-name='model.weight']")
    detail = page.inner_text("[data-testid=inspector]")
    assert "line 29: model = LinearModel(3, 2)" in detail and ".grad" in detail
    assert page.locator("[data-testid=inspector] canvas.glyph.heatmap").count() == 2
    page.click("[data-testid=inspector] tr[data-name='model.bias']")
    assert page.locator("[data-testid=inspector] canvas.glyph").count() == 0  # 2 values: text
    page.screenshot(path=str(ARTIFACTS / "page-inspector.png"))


def test_a_big_tensor_shows_a_histogram(page):
    page.evaluate("() => document.querySelector('.CodeMirror').CodeMirror.setValue("
                  "'import torch\\nw = torch.randn(100, 100, requires_grad=True)\\n"
                  "loss = (w * 2).sum()\\nloss.backward()\\n')")
    page.click("[data-testid=run]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')")
    page.click("[data-testid=inspector] tr[data-name='w']")
    # The histograms were kept on the server: the page asks for them (inspect) and draws them.
    page.wait_for_function("document.querySelectorAll("
                           "'[data-testid=inspector] canvas.glyph.histogram').length === 2")
    assert "min" in page.inner_text("[data-testid=inspector]")


def test_values_the_server_kept_arrive_when_the_inspector_shows_them(page):
    """Six values travel as statistics and a preview (the glyph); the numbers come on request."""
    page.evaluate("() => document.querySelector('.CodeMirror').CodeMirror.setValue("
                  "'import torch\\nx = torch.arange(6.0, requires_grad=True)\\n"
                  "loss = (x * 3).sum()\\nloss.backward()\\n')")
    page.click("[data-testid=run]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')")
    assert "[0, 1, 2, 3, 4, 5]" not in page.inner_text("[data-testid=inspector]")
    page.click("[data-testid=inspector] tr[data-name='x']")
    page.wait_for_function("document.querySelector('[data-testid=inspector]')"
                           ".textContent.includes('[3, 3, 3, 3, 3, 3]')")
    detail = page.inner_text("[data-testid=inspector]")
    assert "value [0, 1, 2, 3, 4, 5]" in detail, detail
    assert page.locator("[data-testid=inspector] canvas.glyph.sparkline").count() == 2  # and grad


def test_the_drawn_hook_lists_module_groups_and_no_text_under_9_px(page):
    run_example(page, "modules/compute_gradients")
    groups = drawn_boxes(page, "group")
    assert groups and all(g["w"] > 0 for g in groups) and any(g["texts"] for g in groups)
    # A group's text is its path; the second call of `model` (`model#2`) reads "model (call 2)".
    assert all(t["full"] == re.sub(r"#(\d+)", r" (call \1)", g["id"]) and t["px"] >= 9
               for g in groups for t in g["texts"])
    for _ in range(6):  # out to where a box is a few pixels: text goes before it gets small
        page.click("[data-testid=zoom-out]")
        texts = [t for box in drawn_boxes(page) for t in box["texts"]]
        assert all(t["px"] >= 9 for t in texts), texts
    assert not [t for box in drawn_boxes(page) for t in box["texts"]]


MLP = ("import torch\\nimport torch.nn.functional as F\\ntorch.manual_seed(0)\\n"
       "net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))\\n"
       "loss = F.mse_loss(net(torch.randn(5, 4)), torch.randn(5, 1))\\nloss.backward()\\n")


def test_module_boxes_never_overlap_and_their_names_never_cover_a_node(page):
    page.evaluate(f"() => document.querySelector('.CodeMirror').CodeMirror.setValue('{MLP}')")
    page.click("[data-testid=run]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')")
    for zoom in range(4):
        groups, nodes = drawn_boxes(page, "group"), drawn_boxes(page)
        assert {g["id"] for g in groups} == {"net", "net.0", "net.1", "net.2"}
        for i, a in enumerate(groups):
            for b in groups[i + 1:]:
                nested = a["id"].startswith(b["id"] + ".") or b["id"].startswith(a["id"] + ".")
                assert nested or not boxes_overlap(a, b), (zoom, a, b)
            if a["texts"]:
                band = {"x": a["x"], "y": a["y"], "w": a["w"], "h": 18}
                assert not any(boxes_overlap(band, n) for n in nodes), (zoom, a)
        page.click("[data-testid=zoom-in]")


def test_zoom_buttons_zoom_about_the_centre_and_fit_returns(page):
    run_example(page, "basics/wx_plus_b_loss")
    fitted = {b["id"]: b for b in drawn_boxes(page)}
    page.click("[data-testid=zoom-in]")
    zoomed = {b["id"]: b for b in drawn_boxes(page)}
    assert all(zoomed[i]["w"] > fitted[i]["w"] * 1.2 for i in zoomed)
    page.click("[data-testid=fit]")
    assert {b["id"]: b for b in drawn_boxes(page)} == fitted


def test_the_minimap_shows_when_the_graph_is_out_of_view_and_a_click_goes_there(page):
    run_example(page, "modules/compute_gradients")
    assert not page.is_visible("[data-testid=minimap]")  # at fit, all of it is in view
    for _ in range(4):
        page.click("[data-testid=zoom-in]")
    assert page.is_visible("[data-testid=minimap]")
    canvas = page.locator("[data-testid=canvas]").bounding_box()
    page.mouse.move(canvas["x"] + 100, canvas["y"] + 100)
    page.mouse.down()
    page.mouse.move(canvas["x"] + 100, canvas["y"] + 100 + 3000, steps=4)  # the graph is gone
    page.mouse.up()
    assert drawn_boxes(page) == []
    mini = page.locator("[data-testid=minimap]").bounding_box()
    page.mouse.click(mini["x"] + mini["width"] / 2, mini["y"] + mini["height"] / 2)
    assert drawn_boxes(page), "a click on the minimap's middle brings the graph's middle back"
    page.click("[data-testid=fit]")
    assert not page.is_visible("[data-testid=minimap]")


def test_search_centres_on_its_hit_and_enter_goes_to_the_next(page):
    page.evaluate("() => document.querySelector('.CodeMirror').CodeMirror.setValue("
                  "'import torch\\nnet = torch.nn.Sequential(torch.nn.Linear(3, 4), "
                  "torch.nn.ReLU(), torch.nn.Linear(4, 1))\\n"
                  "loss = net(torch.ones(2, 3)).sum()\\nloss.backward()\\n')")
    page.click("[data-testid=run]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')")
    canvas = page.locator("[data-testid=canvas]").bounding_box()

    def centred_hit() -> dict:
        boxes = drawn_boxes(page)
        middle = min(boxes, key=lambda b: abs(b["x"] + b["w"] / 2 - canvas["width"] / 2)
                     + abs(b["y"] + b["h"] / 2 - canvas["height"] / 2))
        assert abs(middle["x"] + middle["w"] / 2 - canvas["width"] / 2) < 2
        return middle

    page.fill("[data-testid=search]", "net.2")
    hit = centred_hit()
    assert hit["texts"][0]["full"].startswith("net.2")
    assert page.inner_text("[data-testid=inspector]").startswith("net.2")
    page.fill("[data-testid=search]", "linear")
    seen = [centred_hit()["id"]]
    for _ in range(10):
        page.press("[data-testid=search]", "Enter")
        seen.append(centred_hit()["id"])
        if seen[-1] == seen[0]:
            break
    assert len(seen) >= 3 and seen[-1] == seen[0] and len(set(seen)) == len(seen) - 1, seen
    page.fill("[data-testid=search]", "no such thing")
    assert "missed" in page.get_attribute("[data-testid=search]", "class")


def test_a_nodes_saved_tensors_come_from_the_server_when_it_is_picked(page):
    """The stream carries saved entries as names; picking the node asks for their values."""
    run_example(page, "basics/wx_plus_b_loss")
    loss = next(b for b in drawn_boxes(page) if b["texts"][0]["full"].startswith("loss"))
    canvas = page.locator("[data-testid=canvas]").bounding_box()
    page.mouse.click(canvas["x"] + loss["x"] + loss["w"] / 2,
                     canvas["y"] + loss["y"] + loss["h"] / 2)
    page.wait_for_function("document.querySelector('[data-testid=inspector]')"
                           ".textContent.includes('saved:')")
    detail = page.inner_text("[data-testid=inspector]")  # y is the pow's input, kept by it
    assert "saved:\ny (input 1)" in detail and "saved exponent 2" in detail, detail


def test_clicking_a_node_selects_it_and_pinch_zooms(browser, server):
    context = browser.new_context(bypass_csp=True, viewport={"width": 1400, "height": 850},
                                  has_touch=True)
    page = context.new_page()
    page.goto(server.page)
    page.wait_for_function("document.querySelector('[data-testid=examples]').options.length > 40")
    run_example(page, "basics/wx_plus_b_loss")
    loss = next(b for b in drawn_boxes(page) if b["texts"][0]["full"].startswith("loss"))
    canvas = page.locator("[data-testid=canvas]").bounding_box()
    cx, cy = canvas["x"] + loss["x"] + loss["w"] / 2, canvas["y"] + loss["y"] + loss["h"] / 2
    page.mouse.click(cx, cy)
    assert page.inner_text("[data-testid=inspector]").startswith("loss · pow · PowBackward0")
    cdp = context.new_cdp_session(page)

    def touch(kind, spread):
        points = [{"x": cx - spread, "y": cy, "id": 0}, {"x": cx + spread, "y": cy, "id": 1}]
        cdp.send("Input.dispatchTouchEvent",
                 {"type": kind, "touchPoints": [] if kind == "touchEnd" else points})

    touch("touchStart", 20)
    for spread in range(25, 85, 5):
        touch("touchMove", spread)
    touch("touchEnd", 80)
    after = next(b for b in drawn_boxes(page) if b["id"] == loss["id"])
    assert after["w"] > loss["w"] * 2.5  # the fingers moved 4x apart
    context.close()


def test_presenter_mode_from_the_address_and_the_toggle(browser, server):
    page = browser.new_page(bypass_csp=True, viewport={"width": 1400, "height": 850})
    page.goto(server.page + "&present")
    assert page.url == server + "/?present"  # the token left the address; the rest stayed
    assert page.evaluate("document.body.classList.contains('present')")
    page.wait_for_function("document.querySelector('[data-testid=examples]').options.length > 40")
    run_example(page, "basics/wx_plus_b_loss")
    page.screenshot(path=str(ARTIFACTS / "page-present.png"))
    page.click("[data-testid=present]")
    assert not page.evaluate("document.body.classList.contains('present')")
    light = canvas_pixels(page)
    page.click("[data-testid=theme]")
    page.evaluate("new Promise(done => requestAnimationFrame(done))")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert canvas_pixels(page) != light
    page.reload()  # the choice is remembered
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.close()


def test_the_empty_state_invites_a_run_and_a_run_without_a_graph_says_so(page):
    assert page.is_visible("[data-testid=empty] .invite")
    page.click("[data-testid=try-seed]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')")
    assert len(drawn_boxes(page)) == 6 and not page.is_visible("[data-testid=empty]")
    page.evaluate("() => document.querySelector('.CodeMirror').CodeMirror.setValue("
                  "'import torch\\nx = torch.ones(2)\\nraise ValueError(\"no graph here\")\\n')")
    page.click("[data-testid=run]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')")
    assert page.is_visible("[data-testid=empty] .no-graph")
    assert drawn_boxes(page) == [] and "line 3:" in page.inner_text("[data-testid=problems]")
    page.screenshot(path=str(ARTIFACTS / "page-no-graph.png"))


def test_a_loop_shows_the_iteration_of_the_pass_the_player_is_on(page):
    run_example(page, "training/manual_linear_xor")

    def labels() -> list[str]:
        return sorted(b["texts"][0]["full"].split(" = ")[0] for b in drawn_boxes(page)
                      if b["texts"])

    for _ in range(4):  # Fit keeps titles readable (two lines where long): the end may need −
        if "loss" in labels():
            break
        page.click("[data-testid=zoom-out]")
    assert labels() == sorted(["weight", "bias", "x @ self.weight.t()", "pred", "pred - y",
                               "(pred - y) ** 2", "loss"]), labels()  # one iteration, not 20
    page.click("[data-testid=fit]")
    last = drawn_boxes(page)
    page.fill("[data-testid=search]", "pred - y")  # in every iteration: the first is pass 0's
    assert page.eval_on_selector("[data-testid=passes]", "s => s.value") == "0"
    page.press("[data-testid=search]", "Enter")
    assert page.eval_on_selector("[data-testid=passes]", "s => s.value") == "1"
    assert page.inner_text("[data-testid=inspector]").startswith("pred - y")
    page.select_option("[data-testid=passes]", "0")
    page.click("[data-testid=fit]")  # the search zoomed in
    first = drawn_boxes(page)
    leaves = {b["id"] for b in first} & {b["id"] for b in last}
    assert len(first) == len(last) and len(leaves) == 2  # the shared weight and bias
    for i, a in enumerate(first):
        assert not any(boxes_overlap(a, b) for b in first[i + 1:]), a


def test_the_pass_picker_the_loss_chart_and_the_player_agree(page):
    run_example(page, "training/manual_linear_xor")

    def shown() -> tuple[str, str]:
        return (page.eval_on_selector("[data-testid=passes]", "s => s.value"),
                page.get_attribute("[data-testid=losses]", "data-current"))

    assert shown() == ("999", "999")  # the run ends after its last pass
    chart = page.locator("[data-testid=losses]").bounding_box()
    assert chart["width"] > 100
    page.mouse.click(chart["x"] + 1, chart["y"] + chart["height"] / 2)
    assert "(pass 0)" in page.inner_text("[data-testid=frame]") and shown() == ("0", "0")
    page.select_option("[data-testid=passes]", "993")
    assert "(pass 993)" in page.inner_text("[data-testid=frame]") and shown() == ("993", "993")
    page.click("[data-testid=canvas]")  # the player's keys: back into the forward steps
    for _ in range(3):
        page.keyboard.press("ArrowLeft")  # before pass 993: the steps that lead up to it
    assert "forward" in page.inner_text("[data-testid=frame]") and shown() == ("993", "993")
    page.mouse.click(chart["x"] + chart["width"] - 1, chart["y"] + chart["height"] / 2)
    assert "(pass 999)" in page.inner_text("[data-testid=frame]") and shown() == ("999", "999")


def test_ctrl_enter_runs_the_code_a_reload_keeps_and_space_plays(page):
    code = "import torch\nq = torch.tensor(3.0, requires_grad=True)\n(q * q).backward()\n"
    page.evaluate("c => document.querySelector('.CodeMirror').CodeMirror.setValue(c)", code)
    page.reload()  # the code lives in the URL fragment
    page.wait_for_function("document.querySelector('.CodeMirror').CodeMirror.getValue() !== ''")
    assert page.evaluate("document.querySelector('.CodeMirror').CodeMirror.getValue()") == code
    page.click(".CodeMirror")
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')")
    assert "grad 6" in page.inner_text("[data-testid=inspector]")
    page.click("[data-testid=canvas]")  # focus off the editor: keys drive the player
    page.keyboard.press("Home")
    page.keyboard.press("Space")
    assert page.inner_text("[data-testid=play]") == "❚❚"
    page.wait_for_function(
        "document.querySelector('[data-testid=play]').textContent === '▶'", timeout=10000)
    assert page.inner_text("[data-testid=frame]").startswith(
        page.eval_on_selector("[data-testid=timeline]", "t => `${Number(t.max) + 1}/`"))


def test_the_token_leaves_the_address_and_the_tab_keeps_it_for_reloads(browser, server):
    code = "import torch\nq = torch.tensor(3.0, requires_grad=True)\n(q * q).backward()\n"
    page = browser.new_page(bypass_csp=True, viewport={"width": 1400, "height": 850})
    page.goto(f"{server.page}#{quote(code, safe='')}")
    assert page.url == f"{server}/#{quote(code, safe='')}"  # no token; the code is still there
    page.click("[data-testid=run]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent === 'done'")
    page.reload()
    assert "token" not in page.url
    run_code(page, code)
    assert status(page) == "done"
    page.close()


def test_code_in_the_address_that_cannot_be_read_is_ignored_with_a_notice(page, server):
    page.goto(server.page + "#print(1)%")  # the page fixture fails the test on any page error
    assert status(page) == "the code in the address could not be read and was ignored"
    assert page.evaluate("document.querySelector('.CodeMirror').CodeMirror.getValue()") == ""
    run_code(page, "print(1)\n")  # the page still works
    assert page.inner_text("[data-testid=output]") == "1\n"


EVIL = '<img src=x onerror="window.__pwned=1">'
EVIL_NAME = EVIL.replace("window.", "")  # a module's name may not hold a dot


def test_markup_from_a_run_shows_as_text_and_never_runs(page):
    run_code(page, f"""import torch
evil = {EVIL!r}
print(evil)
net = torch.nn.Sequential()
net.add_module({EVIL_NAME!r}, torch.nn.Linear(1, 1))  # its parameters: net.<img ...>.weight
net(torch.ones(1, 1)).sum().backward()
""")
    assert page.inner_text("[data-testid=output]") == EVIL + "\n"
    page.locator("[data-testid=inspector] tr", has_text=f"net.{EVIL_NAME}.weight").click()
    heading = page.inner_text("[data-testid=inspector]").split("\n")[0]  # label · ... · module
    assert heading == f"net.{EVIL_NAME}.weight · leaf tensor · AccumulateGrad · net.{EVIL_NAME}"
    assert page.locator("img:not([data-testid=room-qr])").count() == 0  # none came from the run
    assert page.evaluate("window.__pwned") is None


def test_without_a_valid_token_the_page_says_to_open_the_printed_url(browser, server):
    page = browser.new_page(bypass_csp=True)  # a new tab: no token in the address or the session
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/")
    assert status(page) == "no token: open the URL that gradtrace printed, with its ?token="
    assert page.is_disabled("[data-testid=run]")  # no button that could only be refused
    assert "will not run code for it" in page.inner_text("[data-testid=token-needed]")
    page.goto(server + "/?token=stale")  # a token from an earlier server: the server refuses
    page.wait_for_function("document.querySelector('[data-testid=status]').textContent"
                           ".startsWith('cannot connect: a valid token is required')")
    assert "open the URL that gradtrace printed" in status(page)
    assert not errors, errors
    page.close()


def test_problems_give_the_fix_mark_the_cause_and_fold_the_notes(page):
    """The detach example (issue 11): the graph shows the cut (a scissors mark at y), its
    warning says where the graph was cut and how to fix it, a click puts the editor on that
    line, and notes nobody asked about stay folded."""
    set_code(page, "import torch\nx = torch.tensor(2.0, requires_grad=True)\ny = x * 3\n"
                   "z = y.detach() * 2\nz.requires_grad_()\nz.backward()\nprint(x.grad)\n")
    page.click("[data-testid=run]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')")
    cuts = page.evaluate("window.gradtrace.cuts")  # the scissors where y was detached
    assert [(c["op"], c["line"]) for c in cuts] == [("detach", 4)] and cuts[0]["w"] > 20
    assert cuts[0]["tensor"]["texts"] == ["y.detach()", "= 6"]  # what left stays on screen
    page.screenshot(path=str(ARTIFACTS / "page-detach-cut.png"))
    warning = page.locator("[data-testid=problems] > li.warning")
    assert warning.count() == 1
    text = warning.inner_text()
    assert text.startswith("line 4: x: [detached]") and "Fix: Use the tensor itself" in text
    notes = page.locator("[data-testid=problems] details")
    assert notes.locator("summary").inner_text() == "expected: nothing to fix"  # y: no leaf
    assert not notes.get_attribute("open")
    warning.click()
    assert page.evaluate("document.querySelector('.CodeMirror').CodeMirror.getCursor().line") == 3
    assert page.evaluate("window.gradtrace.cuts.map((c) => c.focused)") == [True]
    why = page.locator("[data-testid=inspector] [data-testid=why-none]")  # x is picked
    why.locator("summary").click()
    assert "[detached]" in why.inner_text() and "line 4: z = y.detach() * 2" in why.inner_text()


def test_a_no_grad_block_is_drawn_as_a_cut_from_a_leaf_in_no_graph(page):
    """w is used only inside torch.no_grad(), so no graph holds it: the page draws w itself,
    the scissors named no_grad, and the tensor the block made; the warning points at the with
    line, and a click on it marks that cut."""
    set_code(page, "import torch\nx = torch.tensor(2.0, requires_grad=True)\n"
                   "w = torch.tensor(4.0, requires_grad=True)\nwith torch.no_grad():\n"
                   "    s = w * 10\nloss = x * s\nloss.backward()\nprint(w.grad)\n")
    page.click("[data-testid=run]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')")
    cuts = page.evaluate("window.gradtrace.cuts")
    assert [(c["op"], c["line"], c["leaf"], c["node"]) for c in cuts] == [
        ("no_grad", 4, "w", None)]
    assert cuts[0]["tensor"]["texts"] == ["w * 10", "= 40"]
    nodes = [d for d in page.evaluate("window.gradtrace.drawn") if d["kind"] == "node"]
    below = max(n["y"] + n["h"] for n in nodes)
    assert cuts[0]["tensor"]["y"] > below  # below the graph, covering none of it
    warning = page.locator("[data-testid=problems] > li.warning")
    assert warning.inner_text().startswith("line 4: w: [no_grad]")
    warning.click()
    assert page.evaluate("document.querySelector('.CodeMirror').CodeMirror.getCursor().line") == 3
    assert page.evaluate("window.gradtrace.cuts.map((c) => c.focused)") == [True]
    page.screenshot(path=str(ARTIFACTS / "page-no-grad-cut.png"))


def test_the_teaching_view_keeps_a_copy_that_explains_a_none_gradient(page):
    set_code(page, "import torch\nw = torch.randn(3, requires_grad=True).to(torch.float64)\n"
                   "loss = (w * 2).sum()\nloss.backward()\n")
    page.click("[data-testid=run]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')")
    titles = [b["texts"][0]["full"] for b in drawn_boxes(page) if b["texts"]]
    assert any(t.startswith("w = ") for t in titles), titles  # the .to() copy, named w
    assert "w: [non_leaf]" in page.eval_on_selector("[data-testid=problems]", "e => e.textContent")


def test_a_leaf_too_narrow_for_before_and_after_says_its_grad_now_not_a_cut_none(page):
    # The official autograd tutorial's six nodes, at the end: w.grad went from None to a 5x3.
    run_code(page, TUTORIAL)
    texts = [t for box in drawn_boxes(page) for t in box["texts"]]
    leaf_grads = [t for t in texts if t["full"].startswith("grad ")]
    assert leaf_grads, texts
    for t in leaf_grads:  # never "grad None …": cut short, it says the opposite of what happened
        assert t["text"] == t["full"] or "→" in t["text"], t
    # whole where it fits, else its grad now
    assert any(t["text"] in ("grad None → 5×3", "grad 5×3") for t in leaf_grads), leaf_grads


# What the server's Content-Security-Policy blocked on the page, if anything.
CSP_WATCH = """window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


def until(page, expression: str, timeout: float = 60.0) -> None:
    """Poll ``expression`` with page.evaluate, which the page's policy does not govern (unlike
    wait_for_function's eval), until it is true."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


def test_the_page_works_under_its_own_content_security_policy(browser, server, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 850}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(CSP_WATCH)
    page.goto(server.page)
    until(page, "document.querySelector('[data-testid=examples]').options.length > 40")
    set_code(page, (ROOT / "examples/basics/wx_plus_b_loss.py").read_text())
    page.click("[data-testid=run]")
    until(page, "document.querySelector('[data-testid=status]').textContent.startsWith('done')")
    until(page, "window.gradtrace.drawn.length > 0")
    box = page.evaluate("window.gradtrace.drawn.find((d) => d.kind === 'node')")
    canvas = page.locator("[data-testid=canvas]").bounding_box()
    page.mouse.click(canvas["x"] + box["x"] + box["w"] / 2, canvas["y"] + box["y"] + box["h"] / 2)
    for kind in ("png", "svg", "html"):  # the exports draw, encode and fetch the template
        page.click("[data-testid=export]")
        with page.expect_download() as info:
            page.click(f"[data-testid=export-{kind}]")
        info.value.save_as(tmp_path / info.value.suggested_filename)
    page.click("[data-testid=present]")
    page.click("[data-testid=theme]")
    page.keyboard.press("Home")
    page.screenshot(path=str(ARTIFACTS / "page-under-csp.png"))
    assert page.evaluate("window.cspViolations") == [] and not errors, errors
    assert page.inner_text("[data-testid=inspector]").strip()  # the node clicked, inspected
    page.close()


def test_a_share_link_that_would_inflate_to_a_gigabyte_is_refused_holding_little(page):
    # 1.4 MB of link, 1 GiB of code: Chromium inflated all of it before the 1 MiB limit
    # could apply, when it was handed the deflated bytes at once
    deflate = zlib.compressobj(9)
    bomb = deflate.compress(b"a" * 2**30) + deflate.flush()
    link = "#z=" + base64.urlsafe_b64encode(bomb).decode().rstrip("=")
    cdp = page.context.new_cdp_session(page)
    page.evaluate("""link => { window.shared = "pending";
        import("/static/js/address.js").then((m) => m.codeFromSharedHash(link))
          .then((code) => { window.shared = code; }); }""", link)
    held, started = 0, time.monotonic()
    while page.evaluate("window.shared") == "pending":
        assert time.monotonic() - started < 30
        usage = cdp.send("Runtime.getHeapUsage")
        held = max(held, usage["usedSize"] + usage.get("backingStorageSize", 0))
    assert page.evaluate("window.shared") is None
    assert held < 64 * 2**20, f"{held / 2**20:.0f} MiB held while refusing it"


def drop_file(page, name: str, text: str) -> None:
    """Drop a file on the page, as a user drags one from their desktop."""
    page.evaluate("""([name, text]) => {
        const data = new DataTransfer();
        data.items.add(new File([text], name, { type: "application/json" }));
        window.dispatchEvent(new DragEvent("drop", { dataTransfer: data, cancelable: true }));
    }""", [name, text])


def test_a_saved_trace_opens_from_the_file_picker_or_dropped_on_the_page(page, tmp_path):
    import subprocess
    import sys

    example = ROOT / "examples/training/sgd_step_linear.py"
    traced = subprocess.run([sys.executable, "-m", "gradtrace", "trace", str(example), "--json"],
                            capture_output=True, text=True, timeout=120)
    saved = tmp_path / "step.json"
    saved.write_text(traced.stdout)
    page.set_input_files("[data-testid=open-trace-file]", str(saved))
    page.wait_for_function("document.querySelector('[data-testid=status]').textContent"
                           " === 'opened step.json'")
    page.wait_for_function("window.gradtrace.drawn.length >= 6")
    drawn = " ".join(t["full"] for box in page.evaluate("window.gradtrace.drawn")
                     for t in box["texts"])
    assert "model.weight" in drawn and "AddmmBackward0" in drawn
    assert not page.is_disabled("[data-testid=run]")  # the page's own controls stay
    page.screenshot(path=str(ARTIFACTS / "page-opened-trace.png"))
    drop_file(page, "notes.json", '{"nodes": []}')
    page.wait_for_function("document.querySelector('[data-testid=status]').textContent"
                           ".startsWith('notes.json: not a gradtrace trace')")
    drop_file(page, "bad.json", "{")
    page.wait_for_function("document.querySelector('[data-testid=status]').textContent"
                           " === 'bad.json is not JSON'")
    doc = json.loads(traced.stdout)
    doc["variables"] = [v for v in doc["variables"] if v["name"] != "x"]
    drop_file(page, "dropped.json", json.dumps(doc))
    page.wait_for_function("document.querySelector('[data-testid=status]').textContent"
                           " === 'opened dropped.json'")
    assert "x" not in page.inner_text("[data-testid=inspector]").split()
    set_code(page, "import torch\nx = torch.tensor(2.0, requires_grad=True)\n(x * x).backward()\n")
    page.click("[data-testid=run]")  # and Run starts afresh, on the server
    page.wait_for_function("document.querySelector('[data-testid=status]').textContent"
                           ".startsWith('done')")
