"""`gradtrace trace` end to end: a real child process per run, real exit codes, real timeouts;
and `gradtrace open` of what it saved."""
# ruff: noqa: F811 (the page tests' browser fixture is imported, then asked for by name)

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import CGROUP_LIMITS, EXAMPLES, RUN_CGROUP_LIMITS, forging, run_plain
from test_page import browser  # noqa: F401  (fixture)


def gradtrace(*args, stdin=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "gradtrace", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def test_trace_json_prints_the_document_and_exits_0():
    result = gradtrace("trace", str(EXAMPLES / "basics/wx_plus_b_loss.py"), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema"] == "gradtrace/1" and doc["error"] is None
    grads = {v["name"]: v["grad"]["values"] for v in doc["variables"] if v["grad"]}
    assert grads == {"x": [5.0], "w": [10.0], "b": [5.0]}
    assert doc["stdout"] == "tensor(5.) tensor(10.) tensor(5.)\n"


def test_trace_report_is_readable():
    result = gradtrace("trace", str(EXAMPLES / "basics/wx_plus_b_loss.py"))
    assert result.returncode == 0
    out = result.stdout
    assert "graph: 6 nodes, 5 edges, 6 forward steps, 1 backward pass" in out
    assert "order: PowBackward0 -> AddBackward0 -> AccumulateGrad(b) -> MulBackward0" in out
    assert "w     line 6  float32[]  value 1.  grad 10." in out
    assert ("y (line 9), loss (line 10): intermediates: autograd fills .grad only for leaves"
            in out)  # expected states: one line a kind, after what may need a fix


def test_snippet_error_exits_1_with_the_document():
    result = gradtrace("trace", str(EXAMPLES / "pitfalls/second_backward_graph_freed.py"),
                       "--json")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert (doc["error"]["code"], doc["error"]["line"]) == ("graph_freed", 11)
    assert doc["variables"][0]["grad"]["values"] == [2.0, 2.0, 2.0, 2.0]


def test_report_names_the_error_line():
    result = gradtrace("trace", str(EXAMPLES / "pitfalls/inplace_add_on_leaf.py"))
    assert result.returncode == 1
    assert "error: line 6  RuntimeError [inplace_leaf]" in result.stdout


def test_timeout_kills_the_snippet_and_exits_1():
    started = time.monotonic()
    result = gradtrace("trace", "-", "--json", "--timeout", "1", stdin="while True:\n    pass\n")
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["code"] == "timeout"
    assert time.monotonic() - started < 30


def test_timeout_keeps_what_was_recorded_before_the_hang():
    result = gradtrace("trace", "-", "--json", "--timeout", "2", stdin=(
        "import torch\nx = torch.ones(2, requires_grad=True)\ny = x * 2\nprint('before')\n"
        "while True:\n    pass\n"))
    doc = json.loads(result.stdout)
    assert doc["error"]["code"] == "timeout"
    assert [s["op"] for s in doc["steps"]] == ["ones", "mul"]
    assert doc["stdout"] == "before\n"


ENDLESS_GRAPH = ("import torch\nx = torch.tensor(1.0, requires_grad=True)\nwhile True:\n"
                 "    x = x * 1.0\n")


def test_a_timed_out_run_ends_within_a_second_of_its_limit_with_its_graph():
    started = time.monotonic()
    assert gradtrace("trace", "-", "--json", stdin="x = 1\n").returncode == 0
    overhead = time.monotonic() - started  # a fresh interpreter importing torch, sandboxed
    started = time.monotonic()
    result = gradtrace("trace", "-", "--json", "--timeout", "3", stdin=ENDLESS_GRAPH)
    elapsed = time.monotonic() - started - overhead
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    error = doc["error"]
    # The stop lands where the loop is when the time is up: its body, or its `while` header
    # (a signal is handled between bytecodes; under load, the back-edge is one of them).
    assert error["code"] == "timeout" and error["line"] in (3, 4), error
    assert "3 s" in error["message"]
    nodes = doc["graph"]["nodes"]
    assert len(nodes) > 1000 and len(doc["graph"]["edges"]) == len(nodes) - 1
    # The budget is 1 s past the limit (bench/); a loaded CI machine gets twice that.
    assert elapsed < 5.0, f"{elapsed:.1f} s past a cold start, for a 3 s limit"


def test_sleeping_snippet_times_out_too():
    result = gradtrace("trace", "-", "--json", "--timeout", "1",
                       stdin="import time\ntime.sleep(1000)\n")
    assert json.loads(result.stdout)["error"]["code"] == "timeout"


def test_snippet_killing_its_own_process_is_a_clear_error():
    result = gradtrace("trace", "-", "--json", stdin="import os, signal\n"
                       "os.kill(os.getpid(), signal.SIGSEGV)\n")
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "WorkerCrashed" and "SIGSEGV" in error["message"]


def test_an_expression_too_deep_for_the_parser_names_its_line():
    code = "import torch\nx = " + " + ".join(["1"] * 15000) + "\n"
    result = gradtrace("trace", "-", "--json", stdin=code)
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "syntax_error" and error["line"] == 2
    assert "nested too deeply" in error["message"]


def test_a_huge_exception_message_is_shortened_not_refused():
    result = gradtrace("trace", "-", "--json", stdin="raise ValueError('x' * 3_000_000)\n")
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "ValueError" and error["line"] == 1
    assert len(error["message"]) < 11_000 and "2,990,000 more characters" in error["message"]


def test_hard_exit_is_a_clear_error():
    result = gradtrace("trace", "-", "--json", stdin="import os\nos._exit(3)\n")
    assert result.returncode == 1
    assert "status 3" in json.loads(result.stdout)["error"]["message"]


def test_memory_limit():
    result = gradtrace("trace", "-", "--json", stdin="import torch\n"
                       "x = torch.empty(50 * 1024**3, dtype=torch.uint8)\n")
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "memory_limit" and error["line"] == 2


def test_cuda_device_on_a_cpu_machine_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = gradtrace("trace", "-", "--device", "cuda", stdin="import torch\nx = torch.ones(2)\n")
    assert result.returncode == 1
    assert "CUDA is not available" in result.stdout


@pytest.mark.parametrize("args", [
    ["trace"],
    ["trace", "/no/such/file.py"],
    ["trace", "x.py", "--device", "tpu"],
    ["trace", "x.py", "--timeout", "0"],
    ["trace", "x.py", "--passes", "last"],
    ["bogus"],
])
def test_bad_usage_exits_2(args):
    result = gradtrace(*args)
    assert result.returncode == 2
    assert "usage:" in result.stderr or "error:" in result.stderr


def test_event_cap_stops_a_chatty_run():
    from gradtrace.runner.limits import RunLimits
    from gradtrace.runner.process import run_snippet

    doc = run_snippet("import torch\nx = torch.ones(1)\nfor _ in range(5000):\n    x = x + 1\n",
                      limits=RunLimits(max_events=1000))
    assert doc["error"]["code"] == "output_limit" and "1000 events" in doc["error"]["message"]


def test_the_event_cap_counts_forged_empty_events_too():
    # an empty forward event holds no step, but it is still an event the parent must parse
    from gradtrace.runner.limits import RunLimits
    from gradtrace.runner.process import run_snippet

    columns = dict.fromkeys(["kind", "op", "span", "grad_mode", "module", "index", "line",
                             "inputs", "outputs", "nodes", "values", "detail"], [])
    empty = {"type": "forward", "steps": {"strings": [], "columns": columns}}
    code = forging(f"(json.dumps([{empty!r}] * 1500) + '\\n').encode()")
    doc = run_snippet(code, limits=RunLimits(max_events=1000))
    assert doc["error"]["code"] == "output_limit" and "1000 events" in doc["error"]["message"]


def test_the_events_a_run_sends_are_bounded_in_bytes_too():
    # 1 MiB strings pass the per-string cap; 40 of them, the run's bound of 32 MiB
    from gradtrace.runner.limits import RunLimits
    from gradtrace.runner.process import run_snippet

    code = forging("""(json.dumps([{"type": "stdout", "text": "x" * 1_000_000}] * 8)
        + "\\n").encode()""", times=5)
    doc = run_snippet(code, limits=RunLimits(max_event_mb=32))
    assert doc["error"]["code"] == "output_limit" and "32 MiB" in doc["error"]["message"]


def test_the_report_groups_diagnoses_by_severity_and_names_the_pass_that_raised(tmp_path):
    path = tmp_path / "twice.py"
    path.write_text("import torch\nx = torch.tensor(2.0, requires_grad=True)\n"
                    "b = torch.tensor(1.0, requires_grad=True)\ny = x.exp()\ny.backward()\n"
                    "print(b.grad)\ny.backward()\n")
    out = subprocess.run([sys.executable, "-m", "gradtrace", "trace", str(path)],
                         capture_output=True, text=True).stdout
    assert "  pass 1: line 7  y.backward()  loss 7.389056  raised RuntimeError" in out
    error, warnings = out.index("error: line 7  RuntimeError [graph_freed]"), out.index("warnings:")
    expected = out.index("expected, nothing to fix:")
    assert error < warnings < out.index("b: [not_connected]") < expected < out.index(
        "y (line 4): intermediates")  # the error first, then what needs a fix
    assert "cause: line 5" in out


def test_passes_chooses_which_passes_of_a_loop_are_kept():
    result = gradtrace("trace", "--json", "--passes", "first2,500,last1",
                       str(EXAMPLES / "training/manual_linear_xor.py"))
    assert result.returncode == 0, result.stderr
    log = json.loads(result.stdout)["pass_log"]
    assert (log["kept"], log["why"]) == ([0, 1, 500, 999], ["first", "first", "asked", "last"])
    assert len(log["losses"]) == 1000


ESCAPES = """import torch
print("\\x1b]0;pwned\\x07 title")             # the terminal window's title
print("\\x1b]52;c;aGVsbG8=\\x07 clipboard")    # OSC 52: a clipboard write
print("\\x1b[2J\\x1b[H cleared")               # the screen cleared
print("\\u202etxt.exe")                         # right-to-left override
x = torch.ones(1, requires_grad=True)
{}
raise RuntimeError("boom\\r\\x1b[2Kerror: none")  # an error line rewritten
"""


def test_the_report_escapes_control_characters_from_the_run(tmp_path):
    path = tmp_path / "escapes.py"
    path.write_text(ESCAPES.format("y = torch.ones(1, requires_grad=True)\n"
                                   "globals()['bad\\x1b[31mname'] = x * 2"))
    out = subprocess.run([sys.executable, "-m", "gradtrace", "trace", str(path)],
                         capture_output=True, timeout=120).stdout.decode()  # bytes: \r as sent
    assert not any(c in out for c in "\x1b\x07\r\u202e"), repr(out)
    assert "\\x1b]0;pwned\\x07 title" in out and "\\x1b[2J\\x1b[H cleared" in out
    assert "\\u202etxt.exe" in out
    assert "boom\\r\\x1b[2Kerror: none" in out  # shown, escaped, on the real error line
    assert [line for line in out.splitlines() if line.startswith("error:")][0].endswith(
        "RuntimeError [user_exception]: boom\\r\\x1b[2Kerror: none")


def test_a_root_cli_run_has_a_cgroup_of_its_own_and_leaves_none_behind():
    if os.geteuid() != 0:
        pytest.skip("cgroups need root")
    before = set(os.listdir("/sys/fs/cgroup/memory"))
    result = gradtrace("trace", "-", "--json", stdin=CGROUP_LIMITS)
    found = json.loads(json.loads(result.stdout)["stdout"])
    cores = str(os.cpu_count() * 100_000)  # the CLI's run may use the whole machine ...
    assert {k: v[1] for k, v in found.items()} == {**RUN_CGROUP_LIMITS, "cpu": cores}
    assert found["memory"][0].startswith("run-")
    result = gradtrace("trace", "-", "--json", "--cpus", "1", stdin=CGROUP_LIMITS)
    found = json.loads(json.loads(result.stdout)["stdout"])  # ... or as many cores as it is given
    assert {k: v[1] for k, v in found.items()} == RUN_CGROUP_LIMITS
    assert set(os.listdir("/sys/fs/cgroup/memory")) == before  # removed at the end


@contextlib.contextmanager
def opened(path):
    """`gradtrace open PATH --no-browser`, and the address it prints."""
    proc = subprocess.Popen([sys.executable, "-m", "gradtrace", "open", str(path), "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        found = re.search(r"at (http://127\.0\.0\.1:\d+/) \(read-only", line)
        assert found, line
        yield found[1]
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


@pytest.mark.parametrize("kind", ["json", "html"])
def test_open_shows_a_saved_run_read_only(browser, tmp_path, kind):
    saved = tmp_path / f"run.{kind}"
    args = ["--json"] if kind == "json" else ["--html", str(saved)]
    result = gradtrace("trace", str(EXAMPLES / "basics/wx_plus_b_loss.py"), *args)
    assert result.returncode == 0, result.stderr
    if kind == "json":
        saved.write_text(result.stdout)
    with opened(saved) as url:
        with pytest.raises(urllib.error.HTTPError):  # the one page, and nothing else
            urllib.request.urlopen(url + "etc/passwd", timeout=5)
        page = browser.new_page()
        try:
            page.goto(url)
            page.wait_for_function("window.gradtrace && window.gradtrace.drawn.length >= 5")
            assert page.is_disabled("[data-testid=run]")
            assert page.inner_text("[data-testid=status]") == "a saved run, replayed with no server"
        finally:
            page.close()


def test_open_refuses_what_is_not_a_saved_run(tmp_path):
    notes = tmp_path / "notes.json"
    notes.write_text('{"nodes": []}')
    page = tmp_path / "page.html"
    page.write_text("<html>hello</html>")
    for path, why in [(notes, "is not a gradtrace/1 trace"), (page, "is not a page gradtrace"),
                      (tmp_path / "none.json", "cannot read")]:
        result = gradtrace("open", str(path), "--no-browser", timeout=30)
        assert result.returncode == 2 and why in result.stderr, result.stderr


SETUP_PROBE = ("import random\nimport torch\n"
               "print(torch.get_num_threads(), torch.rand(1).item(), random.random())\n")


def test_a_run_is_seeded_with_0_and_says_so_or_left_unseeded_when_asked(tmp_path):
    """Issue 29: the header says how the run was seeded; --no-seed leaves it to chance, as a
    plain run is (each run draws anew: a forked worker does not repeat its zygote's state)."""
    path = tmp_path / "probe.py"
    path.write_text(SETUP_PROBE)
    seeded = [json.loads(gradtrace("trace", "--json", str(path)).stdout) for _ in range(2)]
    assert seeded[0]["stdout"] == seeded[1]["stdout"] and seeded[0]["seed"] == 0
    namespace, _ = run_plain("import random\nrandom.seed(0)\nimport torch\nx = torch.rand(1)\n"
                             "y = random.random()\n")
    assert seeded[0]["stdout"].split()[1:] == [str(namespace["x"].item()), str(namespace["y"])]
    free = [json.loads(gradtrace("trace", "--json", "--no-seed", str(path)).stdout)
            for _ in range(2)]
    assert free[0]["seed"] is None and free[0]["stdout"] != free[1]["stdout"]
    header = gradtrace("trace", "--no-seed", str(path)).stdout.splitlines()[0]
    assert header.endswith("(cpu; unseeded; " + (
        f"{os.cpu_count()} torch threads)" if os.cpu_count() > 1 else "1 torch thread)"))


def test_a_run_uses_as_many_torch_threads_as_its_cores(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text(SETUP_PROBE)
    for cpus, threads in (("1", 1), ("2", 2), ("2.5", 2)):
        doc = json.loads(gradtrace("trace", "--json", "--cpus", cpus, str(path)).stdout)
        assert doc["threads"] == threads and doc["stdout"].split()[0] == str(threads)
    result = gradtrace("trace", "--cpus", "0", str(path))
    assert result.returncode == 2 and "--cpus takes a number of cores from 1" in result.stderr


def test_the_report_of_a_loop_summarises_its_losses_and_joins_its_like_passes(tmp_path):
    """Issue 30: a 300-pass loop whose loss falls four decades is a summary line, a sparkline on
    a log scale, its first pass with the engine's order, and one line for the passes like it."""
    path = tmp_path / "loop.py"
    path.write_text("import torch\nw = torch.tensor(100.0, requires_grad=True)\n"
                    "opt = torch.optim.SGD([w], lr=0.05)\nfor i in range(300):\n"
                    "    loss = w ** 2\n    opt.zero_grad()\n    loss.backward()\n    opt.step()\n")
    out = gradtrace("trace", str(path)).stdout
    assert "  loss over 300 passes: first 10000. (pass 0), last " in out
    spark = next(line for line in out.splitlines() if line.endswith("(log scale)"))
    assert spark.strip()[0] == "█" and spark.strip()[47] == "▁"  # 48 steps, high to low
    assert "  passes 1-9, 15, 31, 63, 127, 255, 290-299: the same, line for line" in out
    assert out.count("    order: ") == 1


def test_a_long_engine_order_is_whole_and_folded_by_module(tmp_path):
    path = tmp_path / "gan.py"
    path.write_text(
        "import torch\nimport torch.nn as nn\n"
        "netG = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), "
        "nn.Linear(16, 4), nn.Tanh())\n"
        "netD = nn.Sequential(nn.Linear(4, 16), nn.LeakyReLU(0.2), nn.Linear(16, 16), "
        "nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Sigmoid())\n"
        "bce = nn.BCELoss()\nfake = netG(torch.randn(32, 8))\n"
        "lossG = bce(netD(fake), torch.ones(32, 1))\nlossG.backward()\n")
    out = gradtrace("trace", str(path)).stdout
    order = next(line for line in out.splitlines() if line.startswith("    order: "))
    assert order.endswith("-> [netD: 15 nodes] -> [netG: 15 nodes]") and "..." not in order
