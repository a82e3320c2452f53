"""%%gradtrace in a real notebook: a real kernel (ipykernel, run by nbclient) records a cell, and
its output shows the run in a browser with no network, as a notebook shows it and as nbconvert's
HTML shows it; a picture and a text stand in where no script runs."""
# ruff: noqa: F811 (the page tests' browser fixture is imported, then asked for by name)

import re

import pytest

from test_page import ARTIFACTS, browser  # noqa: F401  (fixture)

nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[test]' brings the notebook")
nbclient = pytest.importorskip("nbclient")

MLP_CELL = """%%gradtrace
net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
x = torch.randn(5, 4)
loss = net(x).pow(2).mean()
loss.backward()
print("loss", round(loss.item(), 4))"""

BIG_CELL = """%%gradtrace
x = torch.tensor(1.0, requires_grad=True)
y = x
for _ in range(1500):
    y = y * 1.0001 + 0.001
y.backward()"""  # 3,001 nodes


def executed(*cells: str):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("%load_ext gradtrace\nimport torch\n"
                                                "torch.manual_seed(0)"),
                      *(nbformat.v4.new_code_cell(cell) for cell in cells),
                      nbformat.v4.new_code_cell("print(net[0].weight.grad.shape)")]
    nbclient.NotebookClient(notebook, timeout=180, kernel_name="python3").execute()
    return notebook


@pytest.fixture(scope="module")
def notebook():
    return executed(MLP_CELL, BIG_CELL)


def shown(cell) -> dict:
    (output,) = [o for o in cell.outputs if o.output_type == "display_data"]
    return output["data"]


def test_a_cell_is_recorded_in_the_notebook_s_own_namespace(notebook):
    mlp, big, after = notebook.cells[1:]
    printed = "".join(o.get("text", "") for o in mlp.outputs if o.output_type == "stream")
    assert printed.startswith("loss ")  # printed as without gradtrace, and kept for the run
    assert after.outputs[0]["text"] == "torch.Size([8, 4])\n"  # the cell's variables stayed
    data = shown(mlp)
    assert set(data) == {"text/html", "image/svg+xml", "text/plain"}
    assert "net.0.weight" in data["text/plain"] and "AddmmBackward0" in data["image/svg+xml"]


def test_a_3000_node_run_shows_in_under_a_megabyte(notebook):
    data = shown(notebook.cells[2])
    size = sum(len(v.encode()) for v in data.values())
    print(f"a 3,001-node run's output: {size / 1e6:.2f} MB")
    assert size < 1_000_000, size
    assert "3,001 nodes" in data["image/svg+xml"]


def frame_drawn(browser, path, name: str) -> tuple[int, list, list]:
    """Open ``path`` with every request but the file's refused; what the innermost frame drew."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    asked, errors = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route("**/*", lambda route: route.continue_()
               if route.request.url.startswith(("file:", "about:", "data:"))
               else (asked.append(route.request.url), route.abort()))
    try:
        page.goto(path.as_uri())
        page.wait_for_function("document.querySelector('iframe')")
        deadline, drawn = 30_000, -1
        while deadline > 0 and drawn <= 0:
            page.wait_for_timeout(250)
            deadline -= 250
            drawn = max((f.evaluate("window.gradtrace ? window.gradtrace.drawn.length : -1")
                         for f in page.frames), default=-1)
        page.screenshot(path=str(ARTIFACTS / name))
        return drawn, asked, errors
    finally:
        page.close()


def test_the_output_draws_the_run_offline_in_a_browser(notebook, browser, tmp_path):
    frame = shown(notebook.cells[1])["text/html"]
    assert re.match(r'<iframe sandbox="allow-scripts" srcdoc="', frame)
    host = tmp_path / "output.html"
    host.write_text(f"<!doctype html><meta charset='utf-8'><body>{frame}</body>")
    drawn, asked, errors = frame_drawn(browser, host, "notebook_output.png")
    assert drawn >= 6 and not asked and not errors, (drawn, asked, errors)


def test_nbconvert_s_html_shows_the_run_too(notebook, browser, tmp_path):
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(notebook)
    page = tmp_path / "notebook.html"
    page.write_text(body)
    drawn, asked, errors = frame_drawn(browser, page, "notebook_nbconvert.png")
    assert drawn >= 6 and not errors, (drawn, errors)
    # (nbconvert's own page asks for its fonts and MathJax from a CDN; the run asks for nothing)


def test_an_isolated_cell_runs_apart_from_the_notebook():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("%load_ext gradtrace\nsecret = 42"),
                      nbformat.v4.new_code_cell("%%gradtrace --isolated\nprint(secret)")]
    with pytest.raises(nbclient.exceptions.CellExecutionError) as raised:
        nbclient.NotebookClient(notebook, timeout=180, kernel_name="python3").execute()
    assert "NameError" in str(raised.value)  # the worker sees none of the notebook's names
    data = shown(notebook.cells[1])
    assert "NameError" in data["text/plain"]


def test_a_run_over_the_limit_is_shown_compact_and_past_that_as_a_picture(monkeypatch):
    import torch

    import gradtrace
    from gradtrace.api import notebook as magic

    w = torch.randn(32, 32, requires_grad=True)
    with gradtrace.record() as run:
        (w * w).sum().backward()
    doc, whole = run.document, magic.output(run.document, run.prints, "code")
    others = sum(len(whole[k].encode()) for k in ("image/svg+xml", "text/plain"))
    compacted = magic._frame(magic.compact(doc), run.prints, "code")
    assert len(compacted) < len(whole["text/html"])
    assert not any("values" in v["value"] for v in magic.compact(doc)["variables"])
    monkeypatch.setattr(magic, "MAX_OUTPUT_BYTES", others + len(compacted) + 10)
    assert magic.output(doc, run.prints, "code")["text/html"] == compacted
    monkeypatch.setattr(magic, "MAX_OUTPUT_BYTES", others + 100)
    shown = magic.output(doc, run.prints, "code")
    assert "text/html" not in shown and "run.save('run.html')" in shown["text/plain"]


def test_a_run_recorded_with_the_api_shows_inline(browser, tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(
        "import torch, gradtrace\nw = torch.ones(3, requires_grad=True)\n"
        "with gradtrace.record() as run:\n    (w * 2).sum().backward()\nrun.show()")]
    nbclient.NotebookClient(notebook, timeout=180, kernel_name="python3").execute()
    data = shown(notebook.cells[0])
    assert set(data) == {"text/html", "image/svg+xml", "text/plain"}
    host = tmp_path / "shown.html"
    host.write_text(f"<!doctype html><meta charset='utf-8'><body>{data['text/html']}</body>")
    drawn, asked, errors = frame_drawn(browser, host, "notebook_run_show.png")
    assert drawn >= 3 and not asked and not errors, (drawn, asked, errors)


def test_a_bad_option_is_a_one_line_usage_error():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("%load_ext gradtrace"),
                      nbformat.v4.new_code_cell("%%gradtrace --device tpu\nx = 1"),
                      nbformat.v4.new_code_cell("%%gradtrace --passes 0\nx = 1")]
    nbclient.NotebookClient(notebook, timeout=180, kernel_name="python3",
                            allow_errors=True).execute()
    for cell, said in [(notebook.cells[1], "invalid choice: 'tpu'"),
                       (notebook.cells[2], "a whole number from 1, not '0'")]:
        (shown,) = cell.outputs  # IPython shows a UsageError as its one line, no traceback
        assert shown["name"] == "stderr" and shown["text"].startswith(
            "UsageError: %%gradtrace: ") and said in shown["text"], shown
