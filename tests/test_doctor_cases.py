"""The doctor on questions people ask (issue 29). Each case is a public question, adapted to a
few lines: the code, what the accepted answer (or, where none was found, the question's own
working variant) says is the cause and its line, and a fix. Asserted: the diagnosis code, the
cause line and the severity, that the error's cause agrees with the per-variable diagnosis, and
that the fix runs in plain torch and fills the gradient. torch is the oracle for which .grad is
None and for what raises."""

import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from conftest import run_plain, trace_doc


@dataclass
class Case:
    source: str  # the question
    code: str
    diagnoses: dict[str, tuple[str, int, str]]  # variable -> (code, cause line, severity)
    error: tuple[str, int | None] | None  # (code, cause line), or None when it runs through
    fixed: str  # the code with the fix the diagnosis gives
    filled: list[str] = field(default_factory=list)  # gradients the fix fills
    says: str = ""  # a word the error's message, or the first diagnosis's fix, must say


CASES = {
    "argmax between two modules": Case(
        "https://github.com/pytorch/pytorch/issues/1339 (Backprop through argmax): module 1's "
        "output goes through torch.max(y, 1)[1] into module 2; reading module 1's grad raises "
        "'NoneType' has no attribute 'data'. Answer: argmax is not differentiable.",
        "import torch\n"
        "first = torch.nn.Linear(4, 3)\n"
        "second = torch.nn.Linear(1, 1)\n"
        "x = torch.randn(8, 4)\n"
        "picked = torch.max(first(x), 1)[1]\n"  # 5: the cut
        "out = second(picked.float().unsqueeze(1))\n"
        "loss = out.pow(2).mean()\n"
        "loss.backward()\n"
        "print(first.weight.grad.data)\n",  # 9: the symptom
        {"first.weight": ("non_differentiable", 5, "warning"),
         "picked": ("non_differentiable", 5, "info")},
        ("user_exception", 5),
        "import torch\nfirst = torch.nn.Linear(4, 3)\nsecond = torch.nn.Linear(1, 1)\n"
        "x = torch.randn(8, 4)\npicked = torch.max(first(x), 1)[0]\n"
        "out = second(picked.unsqueeze(1))\nloss = out.pow(2).mean()\nloss.backward()\n"
        "print(first.weight.grad.data)\n",
        ["first.weight", "first.bias"], says="index"),
    "argmax, then a float loss": Case(
        "https://github.com/LZGMatrix/BOP19_CDPN_2019ICCV/issues/4: argmax outputs stacked, "
        "made float, and backward raises 'element 0 of tensors does not require grad'. Answer: "
        "argmax is not differentiable; compute the loss before it.",
        "import torch\n"
        "model = torch.nn.Linear(4, 3)\n"
        "x = torch.randn(8, 4)\n"
        "target = torch.randint(0, 3, (8,))\n"
        "pred = model(x).argmax(dim=1)\n"  # 5
        "loss = (pred != target).float().mean()\n"
        "loss.backward()\n",
        {"model.weight": ("non_differentiable", 5, "warning"),
         "pred": ("non_differentiable", 5, "info"), "target": ("requires_grad_false", 4, "info")},
        ("no_grad_fn", 5),
        "import torch\nmodel = torch.nn.Linear(4, 3)\nx = torch.randn(8, 4)\n"
        "target = torch.randint(0, 3, (8,))\n"
        "loss = torch.nn.functional.cross_entropy(model(x), target)\nloss.backward()\n",
        ["model.weight"], says="argmax on line 5"),
    "a hard threshold": Case(
        "https://discuss.pytorch.org/t/if-a-parameter-is-trainable-in-the-following-case/149907"
        " : A[A > THRES].sum().backward() leaves THRES.grad None. Answer: the comparison is not "
        "usefully differentiable; use sigmoid(alpha * (A - THRES)).",
        "import torch\n"
        "A = torch.randn(10, requires_grad=True)\n"
        "THRES = torch.tensor(0.5, requires_grad=True)\n"
        "mask = A > THRES\n"  # 4
        "loss = A[mask].sum()\n"
        "loss.backward()\n"
        "print(THRES.grad)\n",
        {"THRES": ("non_differentiable", 4, "warning"), "mask": ("non_differentiable", 4, "info")},
        None,
        "import torch\nA = torch.randn(10, requires_grad=True)\n"
        "THRES = torch.tensor(0.5, requires_grad=True)\n"
        "weight = torch.sigmoid(10 * (A - THRES))\nloss = (A * weight).sum()\n"
        "loss.backward()\nprint(THRES.grad)\n",
        ["THRES", "A"], says="mask"),
    "an integer cast": Case(
        "https://discuss.pytorch.org/t/gradient-of-threshold-function/205194: the answer notes "
        "that a result made .float() from a comparison, or cast to an integer, does not carry "
        "requires_grad even when its input does.",
        "import torch\n"
        "w = torch.tensor([1.5, 2.5], requires_grad=True)\n"
        "steps = (w * 3).long()\n"  # 3
        "loss = steps.sum().float()\n"
        "loss.backward()\n",
        {"w": ("non_differentiable", 3, "warning"), "steps": ("non_differentiable", 3, "info")},
        ("no_grad_fn", 3),
        "import torch\nw = torch.tensor([1.5, 2.5], requires_grad=True)\nsteps = w * 3\n"
        "loss = steps.sum()\nloss.backward()\n",
        ["w"], says="floating point"),
    "torch.tensor of tensors": Case(
        "https://discuss.pytorch.org/t/gradient-is-lost-when-use-torch-tensor-t1-t2/23261: "
        "y2 = torch.tensor([torch.cos(a), torch.cos(b)]); y2.sum().backward() raises, while "
        "cos(a) + cos(b) works. torch.tensor copies the values into a new leaf; torch.stack "
        "keeps the history.",
        "import torch\n"
        "a = torch.tensor(0.5, requires_grad=True)\n"
        "b = torch.tensor(1.5, requires_grad=True)\n"
        "y2 = torch.tensor([torch.cos(a), torch.cos(b)])\n"  # 4
        "y2.sum().backward()\n",
        {"a": ("detached", 4, "warning"), "b": ("detached", 4, "warning"),
         "y2": ("detached", 4, "info")},
        ("no_grad_fn", 4),
        "import torch\na = torch.tensor(0.5, requires_grad=True)\n"
        "b = torch.tensor(1.5, requires_grad=True)\n"
        "y2 = torch.stack([torch.cos(a), torch.cos(b)])\ny2.sum().backward()\n",
        ["a", "b"], says="torch.stack"),
    "torch.tensor of tensors, made to require grad": Case(
        "The same question's other form: torch.tensor([...], requires_grad=True) runs, and "
        "a.grad stays None when read.",
        "import torch\n"
        "a = torch.tensor(0.5, requires_grad=True)\n"
        "b = torch.tensor(1.5, requires_grad=True)\n"
        "y2 = torch.tensor([a * b, a + b], requires_grad=True)\n"  # 4
        "y2.pow(2).sum().backward()\n"
        "print(a.grad)\n",
        {"a": ("detached", 4, "warning"), "b": ("detached", 4, "info")},
        None,
        "import torch\na = torch.tensor(0.5, requires_grad=True)\n"
        "b = torch.tensor(1.5, requires_grad=True)\ny2 = torch.stack([a * b, a + b])\n"
        "y2.pow(2).sum().backward()\nprint(a.grad)\n",
        ["a", "b"], says="torch.stack"),
    "a tensor made once, before the loop": Case(
        "https://discuss.pytorch.org/t/backpropagation-graph-is-reused-while-it-shouldnt/24554"
        " : y = t @ a is made before the loop, and each iteration's loss uses it; the second "
        "backward raises. Made inside the loop, it works.",
        "import torch\n"
        "t = torch.randn(3, 3, requires_grad=True)\n"
        "a = torch.randn(3, requires_grad=True)\n"
        "x = torch.randn(3)\n"
        "y = t @ a\n"  # 5
        "for step in range(3):\n"
        "    x_out = t @ (x + y)\n"
        "    loss = torch.nn.functional.mse_loss(x_out, x)\n"
        "    loss.backward()\n",  # 9
        {}, ("graph_freed", 5),
        "import torch\nt = torch.randn(3, 3, requires_grad=True)\n"
        "a = torch.randn(3, requires_grad=True)\nx = torch.randn(3)\nfor step in range(3):\n"
        "    y = t @ a\n    x_out = t @ (x + y)\n"
        "    loss = torch.nn.functional.mse_loss(x_out, x)\n    loss.backward()\n",
        ["t", "a"], says="made once, before the loop"),
    "retain_graph, then the optimizer's step": Case(
        "The same question (discuss 24554) asks whether retain_graph=True is the fix. With an "
        "optimizer it is not: its step changes t in place, which the graph of y saved.",
        "import torch\n"
        "t = torch.randn(3, 3, requires_grad=True)\n"
        "a = torch.randn(3, requires_grad=True)\n"
        "x = torch.randn(3)\n"
        "opt = torch.optim.SGD([t, a], lr=0.01)\n"
        "y = t @ a\n"  # 6
        "for step in range(3):\n"
        "    x_out = t @ (x + y)\n"
        "    loss = torch.nn.functional.mse_loss(x_out, x)\n"
        "    opt.zero_grad()\n"
        "    loss.backward(retain_graph=True)\n"  # 11
        "    opt.step()\n",  # 12: the in-place change
        {}, ("inplace_modified", 6),
        "import torch\nt = torch.randn(3, 3, requires_grad=True)\n"
        "a = torch.randn(3, requires_grad=True)\nx = torch.randn(3)\n"
        "opt = torch.optim.SGD([t, a], lr=0.01)\nfor step in range(3):\n    y = t @ a\n"
        "    x_out = t @ (x + y)\n    loss = torch.nn.functional.mse_loss(x_out, x)\n"
        "    opt.zero_grad()\n    loss.backward()\n    opt.step()\n",
        ["t", "a"], says="changed in place since on line 12"),
    "a hidden state carried across iterations": Case(
        "https://discuss.pytorch.org/t/which-is-freed-which-is-not/8636, in the form an RNN "
        "takes: each iteration's state is made from the last one's, so each backward goes back "
        "into the graph the previous one freed. The usual fix detaches the state.",
        "import torch\n"
        "cell = torch.nn.RNNCell(2, 4)\n"
        "h = torch.zeros(1, 4)\n"
        "for step in range(3):\n"
        "    x = torch.randn(1, 2)\n"
        "    h = cell(x, h)\n"  # 6
        "    loss = h.pow(2).sum()\n"
        "    loss.backward()\n",
        {}, ("graph_freed", 6),
        "import torch\ncell = torch.nn.RNNCell(2, 4)\nh = torch.zeros(1, 4)\n"
        "for step in range(3):\n    x = torch.randn(1, 2)\n    h = cell(x, h.detach())\n"
        "    loss = h.pow(2).sum()\n    loss.backward()\n",
        ["cell.weight_ih"], says="h.detach()"),
    "a gradient read after zero_grad": Case(
        "https://github.com/pytorch/tutorials/issues/2219: the autograd tutorial prints "
        "model.layer2.weight.grad after optimizer.zero_grad() and gets 'NoneType' object is not "
        "subscriptable: since 2.0, zero_grad sets gradients to None. Fix: "
        "zero_grad(set_to_none=False).",
        "import torch\n"
        "model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), "
        "torch.nn.Linear(8, 2))\n"
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.01)\n"
        "x = torch.randn(5, 4)\n"
        "loss = model(x).pow(2).sum()\n"
        "loss.backward()\n"
        "optimizer.step()\n"
        "optimizer.zero_grad()\n"  # 8
        "print(model[2].weight.grad[0][0:10])\n",
        {"model.2.weight": ("grad_cleared", 8, "warning"),
         "model.0.weight": ("grad_cleared", 8, "info")},
        ("user_exception", 8),
        "import torch\nmodel = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), "
        "torch.nn.Linear(8, 2))\noptimizer = torch.optim.SGD(model.parameters(), lr=0.01)\n"
        "x = torch.randn(5, 4)\nloss = model(x).pow(2).sum()\nloss.backward()\n"
        "optimizer.step()\noptimizer.zero_grad(set_to_none=False)\n"
        "print(model[2].weight.grad[0][0:10])\n",
        ["model.2.weight"], says="zero_grad"),
}


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def case(request):
    found = CASES[request.param]
    return found, trace_doc(found.code), run_plain(found.code)


def test_each_diagnosis_names_the_cause_line_and_a_fitting_severity(case):
    found, doc, _ = case
    by_name = {d["variable"]: d for d in doc["diagnostics"]}
    for name, (code, line, severity) in found.diagnoses.items():
        d = by_name[name]
        assert (d["code"], d["line"], d["severity"]) == (code, line, severity), (name, d)
        assert not d.get("expected") or severity == "info", d


def test_the_error_and_its_cause_agree_with_torch(case):
    found, doc, (_, plain_error) = case
    if found.error is None:
        assert doc["error"] is None and plain_error is None
        return
    assert plain_error is not None and doc["error"]["type"] == type(plain_error).__name__
    assert (doc["error"]["code"], doc["error"]["cause_line"]) == found.error
    cut_off = [d for d in doc["diagnostics"] if d["severity"] == "warning"]
    assert all(d["line"] == found.error[1] for d in cut_off), cut_off  # one cause, said once


def test_the_doctor_says_what_to_do(case):
    found, doc, _ = case
    said = (doc["error"] or {}).get("message", "") + " ".join(
        d["message"] + " " + d["fix"] for d in doc["diagnostics"])
    assert found.says in said


def test_the_fix_runs_and_fills_the_gradient(case):
    found, _, _ = case
    namespace, error = run_plain(found.fixed)
    assert error is None, error
    params = {}
    for value in namespace.values():
        if hasattr(value, "named_parameters"):
            module = next(k for k, v in namespace.items() if v is value)
            params.update({f"{module}.{n}": p for n, p in value.named_parameters()})
    for name in found.filled:
        tensor = params.get(name, namespace.get(name))
        assert tensor is not None and tensor.grad is not None, name
    doc = trace_doc(found.fixed)
    assert doc["error"] is None
    assert [d for d in doc["diagnostics"] if d["severity"] == "warning"] == []


def test_zero_grad_at_a_step_s_end_is_said_once_as_information():
    """A training step that ends with zero_grad (set_to_none=True, the default) clears every
    parameter's gradient: the normal path, one line for all of them, and no warning."""
    code = ("import torch\n"
            "net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), "
            "torch.nn.Linear(8, 1))\n"
            "opt = torch.optim.SGD(net.parameters(), lr=0.1)\n"
            "x, y = torch.randn(16, 4), torch.randn(16, 1)\n"
            "for step in range(3):\n"
            "    loss = torch.nn.functional.mse_loss(net(x), y)\n"
            "    loss.backward()\n"
            "    opt.step()\n"
            "    opt.zero_grad(set_to_none=True)\n")
    doc = trace_doc(code)
    cleared = [d for d in doc["diagnostics"] if d["code"] == "grad_cleared"]
    assert len(cleared) == 4 and all(d["expected"] and d["severity"] == "info" and d["line"] == 9
                                     for d in cleared)
    from gradtrace.trace.report import render

    report = render(doc, "step.py")
    assert report.count("cleared by zero_grad") == 1
    assert "net.0.weight, net.0.bias, net.2.weight, net.2.bias (line 9): cleared by zero_grad" \
        in report and "warnings:" not in report


def test_the_report_groups_a_cut_said_of_one_letter_names_as_whole_words():
    from gradtrace.trace.report import render

    report = render(trace_doc(CASES["torch.tensor of tensors"].code), "t.py")
    assert "  line 4  a, b: [detached] No backward pass reached each of them: the path " in report
    assert "use torch.stack or torch.cat" in report  # what it copied is gone: not tried
    report = render(trace_doc("import torch\na = torch.tensor(2.0, requires_grad=True)\n"
                              "b = torch.tensor(3.0, requires_grad=True)\nc = a * b\nd = a + b\n"
                              "v = torch.tensor([c, d])\nv.sum().backward()\n"), "t.py")
    assert "gradtrace tried it on copies" in report  # torch.stack([c, d]), tried on copies


def test_a_requires_grad_false_that_changed_nothing_is_no_cause():
    doc = trace_doc("import torch\nx = torch.randn(3)\nx.requires_grad_(False)\n"
                    "w = torch.randn(3, requires_grad=True)\n(w * x).sum().backward()\n")
    x = next(d for d in doc["diagnostics"] if d["variable"] == "x")
    assert (x["code"], x["line"], x["expected"]) == ("requires_grad_false", 2, True)
    doc = trace_doc("import torch\nx = torch.randn(3, requires_grad=True)\n"
                    "x.requires_grad_(False)\nw = torch.randn(3, requires_grad=True)\n"
                    "(w * x).sum().backward()\n")
    x = next(d for d in doc["diagnostics"] if d["variable"] == "x")
    assert (x["code"], x["line"], x["expected"]) == ("requires_grad_disabled", 3, False)


def test_an_integer_tensor_is_not_told_to_require_grad():
    doc = trace_doc("import torch\nlabels = torch.tensor([0, 2, 1])\n"
                    "w = torch.randn(3, 3, requires_grad=True)\n"
                    "torch.nn.functional.cross_entropy(w, labels).backward()\n")
    d = next(d for d in doc["diagnostics"] if d["variable"] == "labels")
    assert d["expected"] and "int64" in d["message"]
    import torch

    with pytest.raises(RuntimeError):  # what "create it with requires_grad=True" would do
        torch.tensor([0, 2, 1], requires_grad=True)
    assert "Create it with requires_grad=True" not in d["fix"]


def test_a_run_that_timed_out_says_so_first_and_diagnoses_nothing_stale(tmp_path):
    path = tmp_path / "forever.py"
    path.write_text("import torch\nw = torch.randn(3, requires_grad=True)\n"
                    "opt = torch.optim.SGD([w], lr=0.1)\nwhile True:\n"
                    "    loss = (w * w).sum()\n    loss.backward()\n    opt.step()\n"
                    "    opt.zero_grad()\n")
    result = subprocess.run([sys.executable, "-m", "gradtrace", "trace", "--timeout", "2",
                             str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[1].startswith("error: ") and "[timeout]" in lines[1]
    assert "grad_cleared" not in result.stdout and "warnings:" not in result.stdout
    assert "as the run left them: it stopped before its end" in result.stdout
