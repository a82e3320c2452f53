"""The models people study, on screen (issue 10): at fit nothing overlaps and no text is under
9 px, a graph opens with at most about 40 boxes, groups open and close in place, search opens
what hides its hit, and a loop's pass control, chart and player agree."""

# ruff: noqa: F811 (the fixtures test_page.py defines are imported, then asked for by name)
import pytest
from models import ALL, GPT, REAL, RNN, TRAINING_LOOP, TRANSFORMER

from test_page import ARTIFACTS, boxes_overlap, browser, page, server, set_code  # noqa: F401

SHOWN = ("node", "group", "fold")


def run_and_settle(page, code: str) -> None:
    set_code(page, code)
    page.click("[data-testid=run]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')",
        timeout=60000)
    settle(page)


def settle(page) -> None:
    """Wait until the page has the server's view layouts it asked for, and drew them."""
    page.wait_for_function("window.gradtrace.layouts === 0 && window.gradtrace.views > 0")


def relaid(page, action) -> None:
    """Do ``action``, which asks for a new view layout, and wait until that is drawn."""
    views = page.evaluate("window.gradtrace.views")
    action()
    page.wait_for_function(f"window.gradtrace.views > {views} && window.gradtrace.layouts === 0")


def click_and_settle(page, point: tuple[float, float]) -> None:
    relaid(page, lambda: page.mouse.click(*point))


def edges_under_boxes(page) -> list[tuple]:
    """(source, consumer, box) for each edge drawn that passes under a box other than its ends
    (window.gradtrace.edges: points along each edge, in the canvas's pixels)."""
    drawn_boxes, edges = page.evaluate("new Promise(done => requestAnimationFrame(() => done("
                                       "[window.gradtrace.drawn, window.gradtrace.edges])))")
    shown = [d for d in drawn_boxes if d["kind"] in SHOWN and not d.get("open")]
    found = []
    for edge in edges:
        for p in edge["points"][1:-1]:
            box = next((b for b in shown if b["id"] not in (edge["src"], edge["dst"])
                        and b["x"] + 1 < p["x"] < b["x"] + b["w"] - 1
                        and b["y"] + 1 < p["y"] < b["y"] + b["h"] - 1), None)
            if box:
                found.append((edge["src"], edge["dst"], box["id"]))
                break
    return found


def zoom_out_until(page, shown, clicks: int = 8) -> None:
    """Fit keeps text readable, so a long picture shows its start: zoom out, as a user would,
    until ``shown()`` holds (or ``clicks`` clicks of −)."""
    for _ in range(clicks):
        if shown():
            return
        page.click("[data-testid=zoom-out]")


def drawn(page) -> list[dict]:
    return page.evaluate(
        "new Promise(done => requestAnimationFrame(() => done(window.gradtrace.drawn)))")


def boxes(page) -> list[dict]:
    """What stands for something on its own: nodes, and groups and folds drawn closed."""
    return [d for d in drawn(page) if d["kind"] in SHOWN and not d.get("open")]


@pytest.mark.parametrize("name", list(ALL))
def test_at_fit_nothing_overlaps_no_text_is_small_and_at_most_40_boxes(page, name):
    run_and_settle(page, ALL[name])
    shown = boxes(page)
    assert 3 <= len(shown) <= 40, (name, len(shown))
    for i, a in enumerate(shown):
        assert not any(boxes_overlap(a, b) for b in shown[i + 1:]), (name, a)
    frames = [d for d in drawn(page) if d.get("open")]
    for i, a in enumerate(frames):  # frames nest or stand apart
        for b in frames[i + 1:]:
            nested = a["id"].startswith(b["id"] + ".") or b["id"].startswith(a["id"] + ".")
            assert nested or not boxes_overlap(a, b), (name, a, b)
    texts = [t for d in drawn(page) for t in d["texts"]]
    assert all(t["px"] >= 9 for t in texts), (name, texts)


@pytest.mark.parametrize("size", [(1400, 900), (390, 844)], ids=["desktop", "phone"])
def test_real_models_read_at_fit_on_a_desktop_and_on_a_phone(browser, server, size):
    """Issue 26: at Fit, 3 to 40 boxes, none overlapping, every box's title at 11 px or more. A
    picture too big for the pane at that size shows its start and pans (or turns top to bottom
    where that shows it bigger), instead of shrinking into a strip."""
    page = browser.new_page(bypass_csp=True, viewport={"width": size[0], "height": size[1]})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.page)
    page.wait_for_function("document.querySelector('[data-testid=examples]').options.length > 40")
    for name, code in REAL.items():
        run_and_settle(page, code)
        shown = boxes(page)
        assert 3 <= len(shown) <= 40, (name, size, len(shown))
        for i, a in enumerate(shown):
            assert not any(boxes_overlap(a, b) for b in shown[i + 1:]), (name, size, a)
        titles = [d["texts"][0]["px"] if d["texts"] else 0 for d in shown]
        assert min(titles) >= 11, (name, size, titles)
        assert edges_under_boxes(page) == [], (name, size)
    page.screenshot(path=str(ARTIFACTS / f"page-real-{size[0]}.png"))
    page.close()
    assert not errors, errors


def test_the_transformer_opens_at_its_layers_each_named_shaped_and_marked_identical(page):
    run_and_settle(page, TRANSFORMER)
    page.click("[data-testid=present]")  # the projector's width: room for every line
    page.click("[data-testid=fit]")
    settle(page)
    six = [f"group:encoder.layers.{k}" for k in range(6)]
    groups = lambda: {d["id"]: d for d in boxes(page) if d["kind"] == "group"}  # noqa: E731
    zoom_out_until(page, lambda: sorted(groups()) == six)
    layers = groups()
    assert sorted(layers) == six
    for box in layers.values():
        full = [t["full"] for t in box["texts"]]
        assert full[0].startswith("encoder.layers.") and "TransformerEncoderLayer" in full, full
        assert "10×2×32 → 10×2×32" in full and "×6" in full, full
        assert any(t.startswith("‖∇‖ ") for t in full), full


def test_a_group_opens_in_place_and_closing_it_puts_everything_back(page):
    run_and_settle(page, TRANSFORMER)
    before = {d["id"]: d for d in boxes(page)}
    target = before["group:encoder.layers.1"]  # (Fit shows the start: text stays readable)
    click_and_settle(page, centre_of(page, target))
    after = {d["id"]: d for d in boxes(page)}
    assert "group:encoder.layers.1" not in after
    assert "group:encoder.layers.1.self_attn" in after  # its inside, opened as a graph opens
    frame = next(d for d in drawn(page) if d["id"] == "encoder.layers.1")
    assert frame["open"] and abs(frame["x"] - target["x"]) < 40
    for key, box in before.items():  # what comes before it stays put
        if box["x"] + box["w"] < target["x"]:
            assert (after[key]["x"], after[key]["y"]) == (box["x"], box["y"]), key
    band = (frame["x"] + 20, frame["y"] + frame["band"] / 2)  # a click on its name closes it
    assert frame["band"] > 0
    click_and_settle(page, canvas_point(page, band))
    assert {d["id"]: d for d in boxes(page)} == before


def test_backward_lights_each_layer_in_turn_and_its_gradient_appears_after(page):
    run_and_settle(page, TRANSFORMER)
    page.click("[data-testid=jump-backward]")  # the start of the backward pass
    lit, graded = [], set()
    for _ in range(400):  # the engine's steps, one at a time: it works from the loss back
        page.click("[data-testid=step-forward]")
        for box in boxes(page):
            if box.get("running") and (not lit or lit[-1] != box["id"]):
                lit.append(box["id"])
            if any(t["full"].startswith("‖∇‖") for t in box["texts"]):
                graded.add(box["id"])
        if "encoder.layers.0" in (lit or [""])[-1]:
            break
    assert lit == [f"group:encoder.layers.{k}" for k in range(5, -1, -1)], lit
    assert graded >= set(lit[:-1])  # a layer's gradient shows once backward is through it


def test_expand_all_and_collapse_all(page):
    run_and_settle(page, TRANSFORMER)
    relaid(page, lambda: page.click("[data-testid=expand-all]"))
    assert not [d for d in drawn(page) if d["kind"] == "group" and not d["open"]]
    relaid(page, lambda: page.click("[data-testid=collapse-all]"))
    assert [d["id"] for d in boxes(page) if d["kind"] == "group"] == ["group:encoder"]


def test_the_depth_control_opens_the_graph_one_level_at_a_time(page):
    run_and_settle(page, GPT)
    closed = lambda: sorted(d["id"] for d in drawn(page)  # noqa: E731
                            if d["kind"] == "group" and not d.get("open"))
    top = "group:model.transformer"
    levels = {1: ["group:model"],  # at 2, the ModuleDict (model.transformer) frames nothing
              2: ["group:model.lm_head", f"{top}.h", f"{top}.ln_f", f"{top}.wpe", f"{top}.wte"],
              3: [f"{top}.h.0", f"{top}.h.1"]}
    for level, expected in levels.items():
        relaid(page, lambda: page.select_option("[data-testid=depth]", str(level)))  # noqa: B023
        zoom_out_until(page, lambda: closed() == expected)  # noqa: B023
        assert closed() == expected, level


def test_the_last_of_quick_clicks_wins_whatever_order_the_replies_come_in(page):
    set_code(page, TRANSFORMER)
    page.click("[data-testid=run]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.startsWith('done')")
    for button in ("expand-all", "collapse-all", "expand-all", "collapse-all", "expand-all"):
        page.click(f"[data-testid={button}]")  # while the final graph's view is on its way
    settle(page)
    assert not [d for d in drawn(page) if d["kind"] == "group" and not d["open"]]


def test_the_rnn_folds_into_one_loop_box_that_opens_into_windows(page):
    run_and_settle(page, RNN)
    folds = [d for d in boxes(page) if d["kind"] == "fold"]
    assert len(folds) == 1 and folds[0]["texts"][0]["full"] == "loop at line 6 ×1000"
    click_and_settle(page, centre_of(page, folds[0]))
    windows = [d for d in drawn(page) if d["kind"] == "fold" and not d["open"]]
    assert windows and windows[0]["id"] == "group:loop:6.w0", windows  # in place: the first
    assert windows[0]["texts"][0]["full"] == "iterations 0–9"
    page.click("[data-testid=fit]")
    windows = lambda: [d for d in drawn(page) if d["kind"] == "fold" and not d["open"]]  # noqa: E731
    zoom_out_until(page, lambda: len(windows()) == 100, clicks=20)
    assert len(windows()) == 100
    assert any(d["id"] == "loop:6" and d["open"] for d in drawn(page))


def test_search_opens_the_group_that_hides_its_hit_and_centres_on_it(page):
    run_and_settle(page, TRANSFORMER)
    relaid(page, lambda: page.fill("[data-testid=search]", "layers.3.self_attn"))
    canvas = page.locator("[data-testid=canvas]").bounding_box()
    shown = boxes(page)
    middle = min(shown, key=lambda b: abs(b["x"] + b["w"] / 2 - canvas["width"] / 2)
                 + abs(b["y"] + b["h"] / 2 - canvas["height"] / 2))
    assert abs(middle["x"] + middle["w"] / 2 - canvas["width"] / 2) < 2
    assert middle["kind"] == "node" and "encoder.layers.3.self_attn" in middle["texts"][0]["full"]
    assert "group:encoder.layers.3" not in {d["id"] for d in shown}


def test_a_training_loop_shows_one_iteration_and_its_controls_agree(page):
    run_and_settle(page, TRAINING_LOOP)
    frame = page.inner_text("[data-testid=frame]")
    picked = page.eval_on_selector("[data-testid=passes]", "s => s.value")
    assert picked == "19" and page.get_attribute("[data-testid=losses]", "data-current") == "19"
    labels = lambda: [d["texts"][0]["full"] for d in boxes(page) if d["texts"]]  # noqa: E731
    zoom_out_until(page, lambda: any(t.startswith("loss") for t in labels()))
    assert sum(t.startswith("loss") for t in labels()) == 1, labels()  # one iteration's loss
    relaid(page, lambda: page.select_option("[data-testid=passes]", "7"))
    assert "(pass 7)" in page.inner_text("[data-testid=frame]") != frame
    assert page.get_attribute("[data-testid=losses]", "data-current") == "7"
    assert page.get_attribute("[data-testid=passes]", "value") in (None, "7")


def centre_of(page, box: dict) -> tuple[float, float]:
    return canvas_point(page, (box["x"] + box["w"] / 2, box["y"] + box["h"] / 2))


def canvas_point(page, point: tuple[float, float]) -> tuple[float, float]:
    canvas = page.locator("[data-testid=canvas]").bounding_box()
    return canvas["x"] + point[0], canvas["y"] + point[1]


# The "Learning PyTorch with Examples" fit, five passes: a and b change in place every pass.
FIT = """import torch
torch.manual_seed(0)
x = torch.linspace(-3, 3, 50)
a = torch.randn((), requires_grad=True)
b = torch.randn((), requires_grad=True)
for t in range(5):
    loss = (a + b * x - torch.sin(x)).pow(2).sum()
    loss.backward()
    with torch.no_grad():
        a -= 1e-3 * a.grad
        b -= 1e-3 * b.grad
        a.grad = None
        b.grad = None
"""


def test_the_inspector_shows_the_pass_the_player_is_on(page):
    """Issue 26: at pass 0 the inspector and the variable table show pass 0's values, not the
    run's last, and a variable is dated to the line that bound it (not to `b -= ...`)."""
    seen: list[float] = []  # b at the start of each pass, from plain torch
    exec(FIT.replace("    loss =", "    seen.append(b.item())\n    loss ="), {"seen": seen})  # noqa: S102
    assert len(seen) == 5 and f"{seen[0]:.4g}" != f"{seen[4]:.4g}"
    run_and_settle(page, FIT)
    for shown in (0, 4):
        relaid(page, lambda: page.select_option("[data-testid=passes]", str(shown)))  # noqa: B023
        row = page.inner_text("[data-testid=inspector] tr[data-name='b']")
        assert f"{seen[shown]:.4g}" in row and "line 5" in row, (shown, row)
        page.click("[data-testid=inspector] tr[data-name='b']")
        detail = page.inner_text("[data-testid=inspector]")
        assert f"value {seen[shown]:.4g}" in detail and "line 5:" in detail, (shown, detail)


LONG_NAMES = """import torch
torch.manual_seed(0)
attention_output_projection_weight = torch.randn(3, 3, requires_grad=True)
token_embeddings_after_layer_norm = torch.randn(2, 3, requires_grad=True)
projected = torch.nn.functional.linear(token_embeddings_after_layer_norm,
                                       attention_output_projection_weight)
loss = projected.pow(2).sum()
loss.backward()
"""


def test_a_title_too_long_for_the_widest_box_wraps_onto_a_second_line_whole(page):
    run_and_settle(page, LONG_NAMES)
    page.keyboard.press("End")  # .grad arrived: the faces are at their widest
    shown = boxes(page)
    wrapped = {t["full"]: (box, t) for box in shown for t in box["texts"] if t.get("lines")}
    assert set(wrapped) == {"attention_output_projection_weight",
                            "token_embeddings_after_layer_norm"}, wrapped
    short = next(b for b in shown if b["texts"] and b["texts"][0]["full"].startswith("loss"))
    for box, text in wrapped.values():
        assert text["text"] == text["full"]  # not shortened: both lines are whole
        assert "".join(text["lines"]) == text["full"]
        assert text["lines"][0].endswith("_")  # broken after an underscore, not inside a word
        assert text["width"] <= text["room"] + 0.5 and text["px"] >= 11
        assert box["h"] > short["h"]  # a line taller than a one-line box
        assert len(box["texts"]) == 2 and box["texts"][1]["full"].startswith("grad")
    for i, a in enumerate(shown):
        for b in shown[i + 1:]:
            assert not boxes_overlap(a, b), (a, b)
    page.screenshot(path=str(ARTIFACTS / "page-wrapped-titles.png"))
