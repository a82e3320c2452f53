"""gradtrace.record in the user's own process: the same document as a worker's capture, ops on
the lines of the user's own file, and nothing left behind however the recorded code ends."""
# ruff: noqa: F811 (the page tests' browser fixture is imported, then asked for by name)

import importlib.util
import json
import random
import re
import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy
import pytest
import torch

import gradtrace
from conftest import example_id, example_paths, trace_doc
from gradtrace.api.recording import Recording
from test_page import ARTIFACTS, browser  # noqa: F401  (fixture)


def as_function(code: str, path) -> object:
    """``code`` (an example: its first line a comment) as the body of ``main()`` in a module file
    of its own: the def takes the comment's line, so every line keeps its number."""
    lines = code.splitlines()
    assert lines[0].startswith("#"), lines[0]
    path.write_text("\n".join(["def main():", *("    " + line for line in lines[1:]), ""]))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def seeded() -> None:
    """As capture seeds a run (run._seed), so both draw the same numbers."""
    torch.manual_seed(0)
    random.seed(0)
    numpy.random.seed(0)


def addressless(text: str) -> str:
    return re.sub(r"0x[0-9a-f]+", "0x...", text)  # <MulBackward0 object at 0x7f...>


def grads(doc: dict) -> dict:
    return {v["name"]: v["grad"] and v["grad"].get("values") for v in doc["variables"]}


@pytest.mark.parametrize("path", example_paths(), ids=example_id)
def test_every_example_records_in_process_as_the_worker_captures_it(path, tmp_path):
    code = path.read_text()
    main = as_function(code, tmp_path / "example.py")
    seeded()
    with warnings.catch_warnings():  # a user's warnings go to their own stderr, as ever: not
        warnings.simplefilter("ignore")  # errors, as the tests' filter makes them
        run = gradtrace.record(main)
    captured = trace_doc(code)
    doc = run.document
    assert (doc["error"] or {}).get("code") == (captured["error"] or {}).get("code")
    if captured["error"]:
        assert doc["error"]["line"] == captured["error"]["line"]
        assert type(run.exception).__name__ == captured["error"]["type"]
    if "Warning: " not in captured["stdout"]:  # a worker prints them with the snippet's output
        assert addressless(doc["stdout"]) == addressless(captured["stdout"])
    assert grads(doc) == grads(captured)
    assert [(s["op"], s["line"], s["span"]) for s in doc["steps"]] == \
        [(s["op"], s["line"], s["span"]) for s in captured["steps"]]
    assert len(doc["graph"]["nodes"]) == len(captured["graph"]["nodes"])
    assert [p["loss"] for p in doc["passes"]] == [p["loss"] for p in captured["passes"]]


def test_a_block_is_recorded_on_its_own_lines_and_torch_is_the_oracle():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    x = torch.tensor([3.0, 4.0])
    with gradtrace.record() as run:
        y = (w * x).sum()
        y.backward()
    here = test_a_block_is_recorded_on_its_own_lines_and_torch_is_the_oracle.__code__
    line = here.co_firstlineno + 4  # y = (w * x).sum()
    assert [(s["op"], s["line"], s["span"]) for s in run.document["steps"]] == [
        ("mul", line, "w * x"), ("sum", line, "(w * x).sum()")]
    assert grads(run.document)["w"] == w.grad.tolist() == [3.0, 4.0]
    assert y.item() == 11.0  # the block's own variables are the user's, as without gradtrace


def test_a_call_is_recorded_with_its_function_s_variables_and_its_result():
    model = torch.nn.Linear(3, 1)
    x = torch.randn(4, 3)

    def step(model, x):
        loss = model(x).pow(2).mean()
        loss.backward()
        return loss

    run = gradtrace.record(step, model, x)
    assert run.result.item() == pytest.approx(model(x).pow(2).mean().item())
    found = grads(run.document)
    assert found["model.weight"] == pytest.approx(model.weight.grad.flatten().tolist()) or \
        found["model.weight"] == pytest.approx(model.weight.grad.tolist())
    assert {"x", "loss"} <= set(found)
    assert run.document["steps"][0]["line"] == step.__code__.co_firstlineno + 1


def installed() -> dict:
    """What gradtrace installs while it records: torch function modes, module hooks, the
    grad-mode switch, Function.apply, and the collector's and profiler's state."""
    from torch.nn.modules import module
    from torch.overrides import _get_current_function_mode_stack

    return {"modes": len(_get_current_function_mode_stack()),
            "pre_hooks": len(module._global_forward_pre_hooks),
            "hooks": len(module._global_forward_hooks),
            "grad_switch": torch._C._set_grad_enabled,
            "apply": torch.autograd.Function.__dict__["apply"],
            "gc": __import__("gc").isenabled(), "profile": sys.getprofile(),
            "stdout": sys.stdout}


@pytest.mark.parametrize("ending", ["raises", "returns", "backward twice"])
def test_nothing_gradtrace_installed_is_left_however_the_code_ends(ending):
    before = installed()

    def step():
        x = torch.tensor(2.0, requires_grad=True)
        y = x * x
        y.backward()
        if ending == "raises":
            raise KeyError("the user's own bug")
        if ending == "backward twice":
            y.backward()  # the graph was freed: torch raises
        return y

    run = gradtrace.record(step)
    assert installed() == before
    if ending == "returns":
        assert run.exception is None and run.result.item() == 4.0
    else:
        assert run.exception is not None and run.document["error"]["line"] is not None
    with pytest.raises(KeyError):  # a block's exception goes on up, once recorded
        with gradtrace.record() as block:
            torch.ones(2, requires_grad=True).sum().backward()
            raise KeyError("in a block")
    assert installed() == before
    assert block.document["error"]["type"] == "KeyError"


def test_settings_the_code_changes_stay_changed_as_without_gradtrace():
    dtype = torch.get_default_dtype()
    try:
        with gradtrace.record():
            torch.set_default_dtype(torch.float64)
        assert torch.get_default_dtype() == torch.float64
    finally:
        torch.set_default_dtype(dtype)


def test_a_run_saves_its_document_and_its_page(tmp_path):
    with gradtrace.record() as run:
        torch.tensor(3.0, requires_grad=True).pow(2).backward()
    saved = json.loads(run.save(tmp_path / "step.json").read_text())
    assert saved["schema"] == run.document["schema"] and saved["graph"] == run.document["graph"]
    page = run.save(tmp_path / "step.html").read_text()
    assert '"__GRADTRACE_TRACE__"' not in page and "PowBackward0" in page
    with pytest.raises(ValueError, match=".html .*or .json"):
        run.save(tmp_path / "step.png")


def test_record_refuses_what_it_cannot_record():
    with pytest.raises(TypeError, match="a Python function or module"):
        gradtrace.record(len, [1])
    assert isinstance(gradtrace.record(), Recording)


def test_a_saved_page_replays_the_run_in_a_browser_with_no_network(browser, tmp_path):
    with gradtrace.record() as run:
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        loss = (w * 3).sum()
        loss.backward()
    path = run.save(tmp_path / "step.html")
    page = browser.new_page(viewport={"width": 1300, "height": 800})
    asked, errors = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
               else (asked.append(route.request.url), route.abort()))
    try:
        page.goto(path.as_uri())
        page.wait_for_function("window.gradtrace && window.gradtrace.drawn.length >= 3")
        drawn = " ".join(t["full"] for box in page.evaluate("window.gradtrace.drawn")
                         for t in box["texts"])
        assert "w" in drawn and "MulBackward0" in drawn, drawn
        code = page.evaluate("document.querySelector('.CodeMirror').CodeMirror.getValue()")
        assert "        loss = (w * 3).sum()\n" in code  # the user's own file
        page.screenshot(path=str(ARTIFACTS / "inprocess_saved_page.png"))
    finally:
        page.close()
    assert not asked and not errors, (asked, errors)


def test_code_whose_source_cannot_be_read_is_recorded_by_line_alone():
    # python -c, standard input, a REPL: the file's text is nowhere to be read
    code = compile("w = torch.ones(2, requires_grad=True)\n(w * 2).sum().backward()\n",
                   "<stdin>", "exec")
    run = gradtrace.record(types.FunctionType(code, {"torch": torch}))
    assert run.exception is None, run.exception
    assert [(s["op"], s["line"], s["span"]) for s in run.document["steps"]] == [
        ("ones", 1, ""), ("mul", 2, ""), ("sum", 2, "")]


HELPERS = '''import torch


def squared_error(prediction, target):
    difference = prediction - target
    return difference.pow(2).mean()


class Scale(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.factor = torch.nn.Parameter(torch.tensor(2.0))

    def forward(self, x):
        return x * self.factor
'''
MAIN = '''import torch

import gradtrace
from {helpers} import Scale, squared_error


def step():
    model = Scale()
    x = torch.tensor([1.0, 2.0])
    with gradtrace.record() as run:
        loss = squared_error(model(x), torch.tensor([3.0, 3.0]))
        loss.backward()
    return run, model
'''


@pytest.fixture
def two_files(tmp_path, monkeypatch):
    """A step in a file of the user's that calls a model and a loss in another of theirs: its
    run, its model, and the two paths."""
    helpers = tmp_path / "my_helpers.py"
    helpers.write_text(HELPERS)
    main = tmp_path / "my_step.py"
    main.write_text(MAIN.format(helpers="my_helpers"))
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = importlib.util.spec_from_file_location("my_step", main)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run, model = module.step()
    yield run, model, str(main), str(helpers)
    sys.modules.pop("my_helpers", None)


def test_a_run_over_two_files_of_the_user_s_is_placed_in_both(two_files):
    run, model, main, helpers = two_files
    doc = run.document
    placed = [(s["op"], s.get("file"), s["line"], s["span"]) for s in doc["steps"]]
    assert placed == [("mul", helpers, 15, "x * self.factor"),
                      ("tensor", None, 11, "torch.tensor([3.0, 3.0])"),
                      ("sub", helpers, 5, "prediction - target"),
                      ("pow", helpers, 6, "difference.pow(2)"),
                      ("mean", helpers, 6, "difference.pow(2).mean()")]
    nodes = {n["name"]: (n.get("file"), n["line"]) for n in doc["graph"]["nodes"]}
    assert nodes["MulBackward0"] == (helpers, 15) and nodes["MeanBackward0"] == (helpers, 6)
    assert nodes["AccumulateGrad"] == (None, 8)  # the parameter was made by Scale() here
    assert doc["passes"][0]["line"] == 12 and "file" not in doc["passes"][0]
    assert doc["sources"] == {helpers: HELPERS}
    assert grads(doc)["model.factor"] == [model.factor.grad.item()]


def test_the_saved_page_shows_the_file_each_step_is_in(two_files, browser, tmp_path):
    run, _, _, helpers = two_files
    path = run.save(tmp_path / "two_files.html")
    page = browser.new_page(viewport={"width": 1300, "height": 800})
    code = "document.querySelector('.CodeMirror').CodeMirror.getValue()"
    try:
        page.goto(path.as_uri())
        page.wait_for_function("window.gradtrace && window.gradtrace.drawn.length > 0")
        page.click("[data-testid=jump-forward]")  # the first step: x * self.factor, in helpers
        page.wait_for_function("!document.querySelector('[data-testid=source-file]').hidden")
        assert page.inner_text("[data-testid=source-file]").startswith(helpers)
        assert page.evaluate(code) == HELPERS
        page.screenshot(path=str(ARTIFACTS / "inprocess_two_files.png"))
        page.click("[data-testid=step-forward]")  # torch.tensor(...), in the recorded file
        page.wait_for_function("document.querySelector('[data-testid=source-file]').hidden")
        assert "with gradtrace.record() as run:" in page.evaluate(code)
    finally:
        page.close()


DEEP = """import sys
sys.path.insert(0, {server!r})
import torch
import gradtrace

W, U = torch.randn(4, 4, requires_grad=True), torch.randn(4, 4, requires_grad=True)
b = torch.zeros(4, requires_grad=True)
xs = torch.randn(8000, 4)
for _ in range(3):  # each run's graph, 40,000 nodes deep, is freed as the next one is made
    with gradtrace.record() as run:
        h = torch.zeros(4)
        for t in range(8000):
            h = torch.tanh(xs[t] @ W + h @ U + b)
        loss = h.sum()
        loss.backward()
del run, loss, h
print("survived")
"""


def test_a_deep_graph_recorded_in_process_is_freed_without_a_crash(tmp_path):
    # walking a graph leaves a wrapper on each node, and plain torch, freeing a 40,000-node chain
    # of them from its root, overflows the C stack (a segmentation fault): the recording's
    # references are dropped only once the user's tensors are gone, node by node
    script = tmp_path / "deep.py"
    script.write_text(DEEP.format(server=str(Path(gradtrace.__file__).parent.parent)))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0 and result.stdout == "survived\n", (result.returncode,
                                                                     result.stderr[-2000:])
