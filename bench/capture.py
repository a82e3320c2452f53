"""Capture cost against plain PyTorch, side by side in one process, one torch thread.

    python bench/capture.py [--reps N] [--quick] [--only TEXT] [--torchviz] [--device cpu|cuda]

For each workload the model and inputs are built once, untimed; then the forward and backward
snippet runs alternately as plain `exec` and under `capture`, and the medians are compared.
The two loop workloads are the "Learning PyTorch with Examples" polynomial fit (2,000 passes of
forward, backward and a manual SGD step; 200 with --quick) and its custom-Function version
(LegendrePolynomial3); their parameters are made inside the timed snippet, so every run starts
from the same ones.
Columns:
  plain     median of plain forward + backward (plain PyTorch, as users run it: collector on)
  capture   median of capture (recording, summaries, names, doctor; layout excluded)
The collector is off while layout and document are timed, as it is in the worker.
  ratio     capture / plain
  budget    the budget in DESIGN.md: a ratio, or for a loop 3x+0.3s (3 x plain + 0.3 s)
  ok        whether capture is within the budget
  layout    median of the layered layout of the captured graph
  doc       median of building the document and encoding it as JSON (jsonio, as the worker)
  B/node    bytes of the compact JSON document per graph node
  w/o vars  the same without `variables` (whose summaries list up to 1,024 values each)
  wire      bytes per node of the live stream's JSON as the server relays it, without the values
            it keeps for `inspect` (one more, untimed, capture)
  deflated  the same, compressed as the WebSocket's permessage-deflate sends it (one zlib stream
            for the connection, flushed per message): the bytes that cross the network
  floor     what interception alone costs, as a ratio to plain: a bare TorchFunctionMode that keeps
            each call's function, line, arguments and result, and a pre-hook on every node that
            keeps what it receives; no summaries, steps, graph or document. It runs with the
            garbage collector frozen and disabled, as capture does (run.py), so that the ratio
            measures interception, not collections of the records. A backward pass drops the
            records from before the pass ahead of it, as a recorder that keeps only some of a
            loop's passes drops the others wholesale. Capture cannot go below it without another
            way to see the calls.
With --torchviz, torchviz's make_dot plus graphviz `dot -Tsvg` on the same graph (60 s cap).
With --device cuda, the models, inputs and the snippet's tensors are on the GPU, and every timing
waits for the GPU to finish (torch.cuda.synchronize).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import statistics
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

from gradtrace.capture import capture
from gradtrace.capture.stream import EventStream
from gradtrace.capture.values import summarize
from gradtrace.drawing.layout import layout
from gradtrace.trace import jsonio
from gradtrace.trace.protocol import document
from gradtrace.web.kept import KeptRun

ROOT = Path(__file__).resolve().parent.parent

# The seed example's expression, without its prints (printing a tensor costs more than autograd).
SCALAR = ("import torch\n", """
x = torch.tensor(2.0, requires_grad=True)
w = torch.tensor(1.0, requires_grad=True)
b = torch.tensor(0.5, requires_grad=True)
y = w * x + b
loss = y ** 2
loss.backward()
""")


def mlp(width: int, depth: int, batch: int):
    setup = f"""
import torch
torch.manual_seed(0)
layers = []
for _ in range({depth}):
    layers += [torch.nn.Linear({width}, {width}), torch.nn.ReLU()]
net = torch.nn.Sequential(*layers, torch.nn.Linear({width}, 1))
inputs = torch.randn({batch}, {width})
"""
    body = """
net.zero_grad()
loss = net(inputs).pow(2).mean()
loss.backward()
"""
    return setup, body


def transformer(blocks: int, d: int = 16, seq: int = 8):
    setup = f"""
import torch
import torch.nn.functional as F
torch.manual_seed(0)

class Block(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(d)
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.proj = torch.nn.Linear(d, d)
        self.ln2 = torch.nn.LayerNorm(d)
        self.fc1 = torch.nn.Linear(d, 4 * d)
        self.fc2 = torch.nn.Linear(4 * d, d)

    def forward(self, x):
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        attn = (q @ k.transpose(-2, -1) / {d ** 0.5}).softmax(dim=-1)
        x = x + self.proj(attn @ v)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))

model = torch.nn.Sequential(*[Block({d}) for _ in range({blocks})])
tokens = torch.randn({seq}, {d})
"""
    body = """
model.zero_grad()
loss = model(tokens).pow(2).mean()
loss.backward()
"""
    return setup, body


def rnn(steps: int, hidden: int = 4):
    setup = f"""
import torch
torch.manual_seed(0)
W = torch.randn({hidden}, {hidden}, requires_grad=True)
U = torch.randn({hidden}, {hidden}, requires_grad=True)
b = torch.zeros({hidden}, requires_grad=True)
xs = torch.randn({steps}, {hidden})
"""
    body = f"""
W.grad = U.grad = b.grad = None
h = torch.zeros({hidden})
for t in range({steps}):
    h = torch.tanh(xs[t] @ W + h @ U + b)
loss = h.sum()
loss.backward()
"""
    return setup, body


# "Learning PyTorch with Examples": fit y = sin(x) with a cubic, by hand-written SGD.
_TUTORIAL_DATA = """
import math
import torch

dtype = torch.float
x = torch.linspace(-math.pi, math.pi, 2000, dtype=dtype)
y = torch.sin(x)
"""
_SGD_STEP = """
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
print(f"Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3")
"""


def poly_fit(iterations: int):
    """The tutorial's polynomial fit with autograd (polynomial_autograd.py)."""
    body = f"""
a = torch.randn((), dtype=dtype, requires_grad=True)
b = torch.randn((), dtype=dtype, requires_grad=True)
c = torch.randn((), dtype=dtype, requires_grad=True)
d = torch.randn((), dtype=dtype, requires_grad=True)
learning_rate = 1e-6
for t in range({iterations}):
    y_pred = a + b * x + c * x ** 2 + d * x ** 3
    loss = (y_pred - y).pow(2).sum()
"""
    return _TUTORIAL_DATA, body + _SGD_STEP


def legendre_fit(iterations: int):
    """The same fit through a custom autograd.Function (polynomial_custom_function.py)."""
    setup = """
class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)
"""
    body = f"""
a = torch.full((), 0.0, dtype=dtype, requires_grad=True)
b = torch.full((), -1.0, dtype=dtype, requires_grad=True)
c = torch.full((), 0.0, dtype=dtype, requires_grad=True)
d = torch.full((), 0.3, dtype=dtype, requires_grad=True)
learning_rate = 5e-6
for t in range({iterations}):
    P3 = LegendrePolynomial3.apply
    y_pred = a + b * P3(c + d * x)
    loss = (y_pred - y).pow(2).sum()
"""
    return _TUTORIAL_DATA + setup, body + _SGD_STEP


@dataclass(frozen=True)
class Budget:
    """Capture may take ``times`` x plain, plus ``plus`` seconds (a loop's budget)."""

    times: float
    plus: float = 0.0

    def allows(self, plain: float, captured: float) -> bool:
        return captured <= self.times * plain + self.plus

    def __str__(self) -> str:
        return f"{self.times:g}x" + (f"+{self.plus:g}s" if self.plus else "")


LOOP = Budget(3.0, 0.3)  # DESIGN.md: a 2,000-iteration tutorial loop within 3x plain + 0.3 s


def workloads(quick: bool):
    """(name, (setup, body), budget); the budgets are DESIGN.md's."""
    scale = 10 if quick else 1
    passes = 2000 // scale
    return [
        ("scalar expression", SCALAR, Budget(3.5)),
        ("MLP width 32 (~1k nodes)", mlp(32, 200 // scale, 16), Budget(3.5)),
        ("MLP width 512 (~1k nodes)", mlp(512, 200 // scale, 64), Budget(1.3)),
        ("transformer-like (~10k nodes)", transformer(250 // scale), Budget(3.0)),
        ("unrolled RNN (~50k nodes)", rnn(8000 // scale), Budget(3.5)),
        (f"polynomial fit ({passes} passes)", poly_fit(passes), LOOP),
        (f"Legendre P3 fit ({passes} passes)", legendre_fit(passes), LOOP),
    ]


DEVICE = "cpu"  # --device


def _on_device():
    """Tensors made inside land on DEVICE, as in a run on it."""
    return torch.device(DEVICE) if DEVICE != "cpu" else contextlib.nullcontext()


def _finished() -> float:
    """The time once the GPU has done what it was given (CUDA kernels run asynchronously)."""
    if DEVICE == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def _plain(body_code, preset):
    namespace = dict(preset)
    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()), _on_device():  # as capture() does
        started = _finished()
        exec(body_code, namespace)
        elapsed = _finished() - started
    namespace.clear()
    return elapsed


class _BareRecorder(TorchFunctionMode):
    """The least a recorder can do per call: note it, with its line, and keep its tensors."""

    def __init__(self, kept: list):
        super().__init__()
        self.kept = kept

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        self.kept.append((func, sys._getframe(1).f_lineno, args, result))
        return result


def _bare_backward(original, kept: list):
    """torch.autograd.backward with a pre-hook on every node reachable from the roots. Each pass
    first drops the records from before the pass ahead of it."""
    dropped_before = 0

    def backward(tensors, *args, **kwargs):
        nonlocal dropped_before
        del kept[:dropped_before]
        roots = [tensors] if isinstance(tensors, torch.Tensor) else list(tensors)
        stack = [t.grad_fn for t in roots]
        seen: set = set()
        handles = []
        while stack:
            fn = stack.pop()
            if fn is None or fn in seen:
                continue
            seen.add(fn)
            handles.append(fn.register_prehook(lambda grads, fn=fn: kept.append((fn, grads))))
            stack.extend(nxt for nxt, _ in fn.next_functions)
        try:
            return original(tensors, *args, **kwargs)
        finally:
            for handle in handles:
                handle.remove()
            dropped_before = len(kept)

    return backward


@contextlib.contextmanager
def _collector_frozen():
    """The garbage collector as capture runs with it (run.py): what exists is frozen out of its
    sight, and it does not run; afterwards, as it was."""
    enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.unfreeze()


def _floor(body_code, preset):
    """Plain run under the bare recorder and hooks, with the collector frozen as in capture (see
    `floor` in the docstring)."""
    namespace, kept = dict(preset), []
    original = torch.autograd.backward
    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()), _on_device():
        started = _finished()
        with _collector_frozen():
            torch.autograd.backward = _bare_backward(original, kept)
            try:
                with _BareRecorder(kept):
                    exec(body_code, namespace)
            finally:
                torch.autograd.backward = original
        elapsed = _finished() - started
    namespace.clear()
    return elapsed


def _captured(body, preset):
    """(capture without layout, layout, document + JSON, trace). capture() lays the graph out
    itself; the layout is timed again on its own and subtracted."""
    started = _finished()
    trace = capture(body, preset=preset, device=DEVICE)
    elapsed = _finished() - started
    assert trace.error is None, trace.error
    gc.disable()
    try:
        started = time.perf_counter()
        layout(trace.nodes, trace.edges)
        layout_time = time.perf_counter() - started
        started = time.perf_counter()
        doc = document(trace)
        payload = jsonio.dumps(doc)
        doc_time = time.perf_counter() - started
        variables = len(jsonio.dumps(doc["variables"]))
    finally:
        gc.enable()
    return elapsed - layout_time, layout_time, doc_time, (len(payload), variables), trace


def measure(setup: str, body: str, reps: int) -> dict:
    preset: dict = {}
    with _on_device():
        exec(setup, preset)
    body_code = compile(body, "<snippet>", "exec")
    plain, captured, layouts, docs, floors = [], [], [], [], []
    size = variables = nodes = 0
    for _ in range(reps):
        gc.collect()
        plain.append(_plain(body_code, preset))
        gc.collect()
        floors.append(_floor(body_code, preset))
        gc.collect()
        elapsed, layout_time, doc_time, (size, variables), trace = _captured(body, preset)
        captured.append(elapsed)
        layouts.append(layout_time)
        docs.append(doc_time)
        nodes = len(trace.nodes)
        del trace
    batches: list = []
    capture(body, preset=preset, stream=EventStream(batches.append), device=DEVICE)
    kept, wire, deflated = KeptRun(), 0, 0
    deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    for batch in batches:
        batch = jsonio.loads(jsonio.dumps(batch))  # as the server reads it from the worker
        kept.strip(batch)
        message = jsonio.dumps(batch)
        wire += len(message)
        deflated += len(deflate.compress(message)) + len(deflate.flush(zlib.Z_SYNC_FLUSH))
    return {
        "wire_bytes_per_node": wire / max(nodes, 1),
        "deflated_bytes_per_node": deflated / max(nodes, 1),
        "plain": statistics.median(plain), "capture": statistics.median(captured),
        "floor": statistics.median(floors),
        "layout": statistics.median(layouts), "doc": statistics.median(docs),
        "nodes": nodes, "bytes_per_node": size / max(nodes, 1),
        "graph_bytes_per_node": (size - variables) / max(nodes, 1),
    }


def torchviz_time(setup: str, body: str, limit: float = 60.0) -> str:
    try:
        from torchviz import make_dot
    except ImportError:
        return "torchviz not installed"
    namespace: dict = {}
    exec(setup, namespace)
    exec(body.replace("loss.backward()", ""), namespace)
    started = time.perf_counter()
    try:
        dot = make_dot(namespace["loss"])
    except RecursionError:
        return "make_dot: RecursionError"
    made = time.perf_counter() - started
    try:
        subprocess.run(["dot", "-Tsvg", "-o", "/dev/null"], input=dot.source.encode(),
                       timeout=limit, check=True)
    except subprocess.TimeoutExpired:
        return f"make_dot {made:.2f} s, dot timed out after {limit:.0f} s"
    except FileNotFoundError:
        return f"make_dot {made:.2f} s, no graphviz `dot` installed"
    return f"make_dot + dot {time.perf_counter() - started:.2f} s"


def cli_end_to_end(reps: int) -> float:
    example = ROOT / "examples/basics/wx_plus_b_loss.py"
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gradtrace", "trace", str(example), "--json"],
                       check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


_COLUMNS = (f"{'workload':32} {'nodes':>6} {'plain':>9} {'capture':>9} {'ratio':>6} "
            f"{'budget':>7} {'ok':>3} {'floor':>6} {'layout':>8} {'doc':>8} {'B/node':>7} "
            f"{'w/o vars':>8} {'wire':>5} {'deflated':>8}")


def _row(name: str, r: dict, budget: Budget) -> str:
    ok = "yes" if budget.allows(r["plain"], r["capture"]) else "NO"
    return (f"{name:32} {r['nodes']:>6} {r['plain'] * 1e3:>7.1f}ms {r['capture'] * 1e3:>7.1f}ms"
            f" {r['capture'] / r['plain']:>5.2f}x {budget!s:>7} {ok:>3} "
            f"{r['floor'] / r['plain']:>5.2f}x {r['layout'] * 1e3:>6.1f}ms "
            f"{r['doc'] * 1e3:>6.1f}ms {r['bytes_per_node']:>7.0f} "
            f"{r['graph_bytes_per_node']:>8.0f} {r['wire_bytes_per_node']:>5.0f} "
            f"{r['deflated_bytes_per_node']:>8.0f}")


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--quick", action="store_true",
                        help="workloads 10x smaller (loops: 200 passes)")
    parser.add_argument("--only", metavar="TEXT", default="",
                        help="only the workloads whose name contains TEXT")
    parser.add_argument("--torchviz", action="store_true", help="also time torchviz + dot")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    global DEVICE
    DEVICE = args.device
    if DEVICE == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device cuda: torch {torch.__version__} has no CUDA device here")
    torch.set_num_threads(1)
    on = torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu"
    print(f"torch {torch.__version__}, 1 thread, on {on}, median of {args.reps}")
    print(_COLUMNS)
    print("-" * len(_COLUMNS))
    for name, (setup, body), budget in workloads(args.quick):
        if args.only.lower() not in name.lower():
            continue
        print(_row(name, measure(setup, body, args.reps), budget), flush=True)
        if args.torchviz and budget is not LOOP:  # (a loop without backward would fail)
            print(f"{'':32} torchviz: {torchviz_time(setup, body)}", flush=True)
    if args.only:
        return
    print(f"\n`gradtrace trace` on examples/basics/wx_plus_b_loss.py, end to end: "
          f"{cli_end_to_end(max(3, args.reps // 2)) * 1e3:.0f} ms (median)")
    print(f"summary of a 10^8-element float32 tensor: {summary_time(args.reps) * 1e3:.0f} ms "
          "(median)")


def summary_time(reps: int) -> float:
    big = torch.randn(10**8)
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        summarize(big)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


if __name__ == "__main__":
    main()
