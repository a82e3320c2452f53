"""The page in a real browser (Debian's chromium via Playwright) against a real server."""

import os
from pathlib import Path

import pytest

from conftest import ROOT
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
    page = browser.new_page(viewport={"width": 1400, "height": 850})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/")
    page.wait_for_function("document.querySelector('[data-testid=examples]').options.length > 40")
    yield page
    assert not errors, errors
    page.close()


def run_example(page, name: str) -> None:
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
    page.keyboard.press("End")
    backward = canvas_pixels(page)
    page.screenshot(path=str(ARTIFACTS / "page-backward.png"))
    assert forward != backward
    inspector = page.inner_text("[data-testid=inspector]")
    rows = {line.split("\t")[0]: line.split("\t")[-1] for line in inspector.splitlines()}
    assert (rows["x"], rows["w"], rows["b"]) == ("grad 5", "grad 10", "grad 5")


def test_error_example_shows_its_line_in_problems(page):
    run_example(page, "pitfalls/inplace_add_on_leaf")
    problems = page.inner_text("[data-testid=problems]")
    assert "line 6:" in problems and "inplace_leaf" in problems
    page.screenshot(path=str(ARTIFACTS / "page-error.png"))


def test_every_example_runs_on_screen(page):
    names = page.eval_on_selector("[data-testid=examples]",
                                  "s => [...s.options].slice(1).map(o => o.text.split(' ')[0])")
    assert len(names) == 45
    for name in names:
        run_example(page, name)
        assert page.inner_text("[data-testid=status]").startswith("done")
        page.screenshot(path=str(ARTIFACTS / f"example-{name.replace('/', '-')}.png"))


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
    assert "MulBackward0" in detail and "grad in" in detail
    page.screenshot(path=str(ARTIFACTS / "page-passes.png"))


def test_teaching_view_folds_plumbing_and_internals_shows_it(page):
    run_example(page, "training/sgd_step_linear")
    teaching = canvas_pixels(page)
    page.click("[data-testid=internals]")
    assert page.inner_text("[data-testid=internals]") == "Internals"
    page.screenshot(path=str(ARTIFACTS / "page-internals.png"))
    assert canvas_pixels(page) != teaching


def test_a_refused_run_says_why_and_the_page_stays_usable(page):
    page.evaluate("() => document.querySelector('.CodeMirror').CodeMirror.setValue("
                  "'x = 1\\n'.repeat(20000))")
    page.click("[data-testid=run]")
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.includes('64 KiB')")
    assert page.is_enabled("[data-testid=run]")
