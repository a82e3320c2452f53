"""The captions' chain rule against torch (issue 12): for each op the captions cover, a small
snippet is traced, the page's captions are made from the document as the page gets it (relayed
by the server), and every number they send to an input is torch's own gradient of that input,
and the upstream gradient times the local derivative they state. Checked here in Python and by
the JavaScript that writes them (tests/js/check_captions.mjs)."""

import json
import re
import shutil
import subprocess

import pytest
import torch

from conftest import ROOT, run_plain, trace_doc
from gradtrace.trace import jsonio
from gradtrace.trace.protocol import rebuild
from gradtrace.web.kept import KeptRun

A = "a = torch.tensor([0.5, 2.0], requires_grad=True)\n"
B = "b = torch.tensor([1.5, -3.0], requires_grad=True)\n"
S = "a = torch.tensor(0.7, requires_grad=True)\n"
HEAD = "import torch\nimport torch.nn.functional as F\n"
# Each case: the lines that make `out` from the leaves, and the leaves torch is asked about. The
# loss weights `out` by 3, so the gradient each op receives is not just 1.
CASES = {
    "add": (A + B + "out = a + b\n", "ab"),
    "sub": (A + B + "out = a - b\n", "ab"),
    "mul": (A + B + "out = a * b\n", "ab"),
    "mul by a number": (A + "out = a * 4\n", "a"),
    "div": (A + B + "out = a / b\n", "ab"),
    "neg": (A + "out = -a\n", "a"),
    "pow": (A + "out = a ** 3\n", "a"),
    "pow of tensors": (A + B + "out = a ** b\n", "ab"),
    "exp": (A + "out = a.exp()\n", "a"),
    "log": (A + "out = a.log()\n", "a"),
    "sqrt": (A + "out = a.sqrt()\n", "a"),
    "abs": (B + "out = b.abs()\n", "b"),
    "sin": (A + "out = a.sin()\n", "a"),
    "cos": (A + "out = a.cos()\n", "a"),
    "tanh": (A + "out = a.tanh()\n", "a"),
    "sigmoid": (A + "out = a.sigmoid()\n", "a"),
    "relu": (B + "out = b.relu()\n", "b"),
    "sum": (A + "out = a.sum()\n", "a"),
    "mean": (A + "out = a.mean()\n", "a"),
    "scalar mul": (S + "out = a * a\n", "a"),
    "matmul": ("a = torch.tensor([[1.0, 2.0]], requires_grad=True)\n"
               "b = torch.tensor([[3.0], [4.0]], requires_grad=True)\nout = a @ b\n", "ab"),
    "mm": ("a = torch.tensor([[1.0, 2.0]], requires_grad=True)\n"
           "b = torch.tensor([[3.0], [-1.0]], requires_grad=True)\nout = torch.mm(a, b)\n", "ab"),
    "matmul of a vector": ("a = torch.tensor([1.0, 2.0], requires_grad=True)\n"
                           "b = torch.tensor([[3.0, 1.0], [4.0, -1.0]], requires_grad=True)\n"
                           "out = torch.matmul(a, b)\n", "ab"),
    "batched matmul": ("a = torch.tensor([[[[1.0, 2.0]]]], requires_grad=True)\n"
                       "b = torch.tensor([[[[3.0], [-1.0]]]], requires_grad=True)\n"
                       "out = (a @ b.transpose(-2, -1).transpose(-2, -1)).flatten()\n", "ab"),
    "view": ("a = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)\n"
             "out = a.view(4) * torch.tensor([1.0, 2.0, 3.0, 4.0])\n", "a"),
    "reshape": ("a = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)\n"
                "out = a.reshape(4) * torch.tensor([1.0, 2.0, 3.0, 4.0])\n", "a"),
    "mse_loss": (A + "t = torch.tensor([1.0, 1.0])\nout = F.mse_loss(a, t)\n", "a"),
    "cross_entropy": ("a = torch.tensor([[1.0, 2.0]], requires_grad=True)\n"
                      "out = F.cross_entropy(a, torch.tensor([0]))\n", "a"),
    "softmax": (A + "out = a.softmax(0) * torch.tensor([1.0, 2.0])\n", "a"),
    "linear": ("w = torch.tensor([[1.0, -1.0]], requires_grad=True)\n"
               "c = torch.tensor([0.5], requires_grad=True)\n"
               "x = torch.tensor([[2.0, 3.0]])\nout = F.linear(x, w, c)\n", "wc"),
}


def case(name: str) -> dict:
    body, leaves = CASES[name]
    code = HEAD + body + "loss = (out * 3).sum()\nloss.backward()\n"
    namespace, error = run_plain(code)
    assert error is None, error
    grads = {k: namespace[k].grad.flatten().tolist() for k in leaves}
    events: list = []
    from gradtrace.capture import capture
    from gradtrace.capture.stream import EventStream
    capture(code, stream=EventStream(events.extend))
    relayed = jsonio.loads(jsonio.dumps(events))
    KeptRun().strip(relayed)  # as the page gets it: big values kept back, small ones sent
    return {"name": name, "document": rebuild(relayed), "grads": grads}


@pytest.fixture(scope="module")
def captions():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    cases = [case(name) for name in CASES]
    result = subprocess.run([node, str(ROOT / "tests/js/check_captions.mjs")],
                            input=json.dumps(cases), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr  # the JavaScript's own check
    return {c["name"]: c["captions"] for c in json.loads(result.stdout)}, cases


VALUE = r"(\[[^\]]+\]|[-\d.e+]+)"
SENDS = re.compile(rf"so it sends (?:{VALUE} × {VALUE} = )?{VALUE} to (\w+)")


def numbers(text: str) -> list[float]:
    return [float(v) for v in text.strip("[]").split(", ")]


@pytest.mark.parametrize("name", list(CASES))
def test_every_number_a_caption_sends_is_torchs_gradient(captions, name):
    by_name, cases = captions
    grads = next(c["grads"] for c in cases if c["name"] == name)
    checked = 0
    for text in by_name[name]:
        total: dict[str, torch.Tensor] = {}  # a node that uses an input twice sends to it twice
        for g, local, sent, leaf in (m.groups() for m in SENDS.finditer(text)):
            if leaf not in grads:
                continue
            checked += 1
            got = torch.tensor(numbers(sent))
            total[leaf] = total.get(leaf, torch.zeros_like(got)) + got
            if g is not None:  # the chain rule, as written: upstream × local = sent
                product = torch.tensor(numbers(g)) * torch.tensor(numbers(local))
                assert torch.allclose(product.expand_as(got), got, rtol=2e-3), (name, g, local)
        for leaf, got in total.items():
            expected = torch.tensor(grads[leaf])
            assert torch.allclose(got, expected.expand_as(got), rtol=2e-3), (name, got, leaf)
    assert checked, by_name[name]


def test_the_seed_and_an_accumulation_are_said_in_words(captions):
    by_name, _ = captions
    texts = by_name["scalar mul"]
    assert "loss.backward() (line 6) starts with ∂loss/∂loss = 1" in texts
    assert any(t.startswith("AccumulateGrad(a): a.grad was None, adds") for t in texts)
    assert "MulBackward0 (a * a, line 4) receives ∂loss/∂out = 3" in " ".join(texts)


def test_a_node_that_only_reshapes_says_so_whatever_call_made_it(captions):
    by_name, _ = captions
    texts = by_name["matmul of a vector"]  # unsqueeze, mm, squeeze: one call, three nodes
    reshapes = [t for t in texts if t.startswith(("SqueezeBackward", "UnsqueezeBackward"))]
    assert reshapes and all("reshaped back to the input's shape" in t and "@" not in t
                            for t in reshapes), texts


def test_each_node_of_one_call_names_its_own_operands(captions):
    """A 4-D matmul is an expand, a clone, a bmm and views: each says what it does in the call,
    never ∂(a @ b)/∂(a @ b)."""
    by_name, _ = captions
    texts = by_name["batched matmul"]
    pairs = [m for t in texts for m in re.findall(r"∂(\(.+?\)|\w+)/∂(\(.+?\)|\w+) = ", t)]
    pairs = [(out, wrt) for out, wrt in pairs if out != "loss"]  # ∂loss/∂loss = 1: the seed
    assert pairs and all(out != wrt for out, wrt in pairs), pairs
    inside = " ".join(texts)
    assert "(expand in a @ b" in inside and "(bmm in a @ b" in inside, texts
    clones = [t for t in texts if t.startswith("CloneBackward")]
    assert all("a copy passes the gradient on unchanged" in t for t in clones), clones


def test_the_seed_example_reads_as_its_article_does():
    """docs' y = w·x + b: every frame's caption, as a class would read them."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    doc = trace_doc((ROOT / "examples/basics/wx_plus_b_loss.py").read_text())
    result = subprocess.run([node, str(ROOT / "tests/js/check_captions.mjs")],
                            input=json.dumps([{"name": "seed", "document": doc,
                                               "grads": {"w": [10.0], "x": [5.0], "b": [5.0]}}]),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    texts = json.loads(result.stdout)[0]["captions"]
    assert texts[4] == "y = w * x + b → 2.5 (line 9)"
    assert texts[6] == "loss.backward() (line 11) starts with ∂loss/∂loss = 1"
    assert texts[10] == (
        "MulBackward0 (w * x, line 9) receives ∂loss/∂(w * x) = 5; ∂(w * x)/∂w = x = 2, so it "
        "sends 5 × 2 = 10 to w; ∂(w * x)/∂x = w = 1, so it sends 5 × 1 = 5 to x.")
    assert texts[11] == "AccumulateGrad(w): w.grad was None, adds 10, now 10"
