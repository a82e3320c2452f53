"""The doctor's table: why a gradient is None, at the line of the cause (issue 11). Each case is
a snippet, and for each variable asked about: its code, the line of the cause, and a word the
fix must say. Real runs through the capture; torch is the oracle for which .grad is None."""

import pytest

from conftest import EXAMPLES, trace_doc

W = "import torch\nw = torch.tensor(2.0, requires_grad=True)\n"  # line 2: w
X = "import torch\nx = torch.tensor(2.0, requires_grad=True)\n"  # line 2: x

CASES = {
    "detach in the middle": (
        X + "y = x * 3\nz = y.detach() * 2\nloss = z + x * 0\nloss.backward()\n",
        {"y": ("non_leaf", 3, "retain_grad"), "z": ("detached", 4, "detach")}),
    "detach cuts the only path": (
        X + "y = x * 3\nz = y.detach() * 2\nz.requires_grad_()\nz.sum().backward()\n",
        {"x": ("detached", 4, "detach")}),
    "data": (
        X + "w = torch.tensor(3.0, requires_grad=True)\nloss = x.data * w\nloss.backward()\n",
        {"x": ("detached", 4, "data")}),
    "no_grad block": (
        W + "b = torch.tensor(1.0, requires_grad=True)\nwith torch.no_grad():\n"
        "    scaled = w * 10\nloss = scaled * b\nloss.backward()\n",
        {"w": ("no_grad", 4, "no_grad"), "scaled": ("no_grad", 4, "no_grad")}),
    "no_grad feeds the loss later": (
        X + "w = torch.tensor(3.0, requires_grad=True)\nwith torch.no_grad():\n"
        "    t = x * 2\n    u = t + 1\nloss = (u * w).sum()\nloss.backward()\n",
        {"x": ("no_grad", 4, "no_grad"), "u": ("no_grad", 4, "no_grad")}),
    "item into a new tensor": (
        W + "vals = [(w * i).item() for i in range(3)]\n"
        "t = torch.tensor(vals, requires_grad=True)\nt.sum().backward()\n",
        {"w": ("left_graph", 3, "item")}),
    "item then tensor, no grad": (
        X + "w = torch.tensor(3.0, requires_grad=True)\nv = torch.tensor(x.item())\n"
        "loss = v * w\nloss.backward()\n",
        {"x": ("left_graph", 4, "item"), "v": ("left_graph", 4, "item")}),
    "float()": (
        X + "w = torch.tensor(3.0, requires_grad=True)\nf = float(x * 2)\nloss = w * f\n"
        "loss.backward()\n",
        {"x": ("left_graph", 4, "float")}),
    "tolist": (
        X + "w = torch.tensor(3.0, requires_grad=True)\nvals = (x * torch.ones(2)).tolist()\n"
        "loss = w * sum(vals)\nloss.backward()\n",
        {"x": ("left_graph", 4, "tolist")}),
    "numpy after detach": (
        X + "w = torch.tensor(3.0, requires_grad=True)\nn = (x * 2).detach().numpy()\n"
        "loss = w * float(n)\nloss.backward()\n",
        {"x": ("detached", 4, "detach")}),
    "requires_grad_(False)": (
        "import torch\ne = torch.tensor(1.0, requires_grad=True)\ne.requires_grad_(False)\n"
        "w = torch.tensor(2.0, requires_grad=True)\nloss = e * w\nloss.backward()\n",
        {"e": ("requires_grad_disabled", 3, "requires_grad_()")}),
    "requires_grad = False": (
        "import torch\ne = torch.tensor(1.0, requires_grad=True)\ne.requires_grad = False\n"
        "w = torch.tensor(2.0, requires_grad=True)\nloss = e * w\nloss.backward()\n",
        {"e": ("requires_grad_disabled", 3, "requires_grad_()")}),
    "zero_grad(set_to_none=True)": (
        W + "opt = torch.optim.SGD([w], lr=0.1)\nloss = w * 3\nloss.backward()\nopt.step()\n"
        "opt.zero_grad(set_to_none=True)\n",
        {"w": ("grad_cleared", 7, "zero_grad")}),
    "grad = None": (
        W + "loss = w * 3\nloss.backward()\nw.grad = None\n",
        {"w": ("grad_cleared", 5, "before")}),
    "never used": (
        W + "b = torch.tensor(1.0, requires_grad=True)\nloss = w * 3\nloss.backward()\n",
        {"b": ("not_connected", 3, "used")}),
    "plain tensor": (
        W + "c = torch.tensor(3.0)\nloss = w * c\nloss.backward()\n",
        {"c": ("requires_grad_false", 3, "requires_grad=True")}),
    "non-leaf": (
        W + "y = w * 3\nloss = y * 2\nloss.backward()\n",
        {"y": ("non_leaf", 3, "retain_grad")}),
    "autograd.grad only": (
        W + "(g,) = torch.autograd.grad(w * 3, w)\n",
        {"w": ("autograd_grad_only", 2, "returns")}),
    "no backward": (
        W + "y = w * 3\n",
        {"w": ("no_backward", 2, "backward")}),
    "custom Function returns None": (
        "import torch\n\nclass Half(torch.autograd.Function):\n    @staticmethod\n"
        "    def forward(ctx, a, b):\n        return a * 0.5 + b\n\n    @staticmethod\n"
        "    def backward(ctx, grad):\n        return grad * 0.5, None\n\n"
        "a = torch.tensor(1.0, requires_grad=True)\nb = torch.tensor(2.0, requires_grad=True)\n"
        "out = Half.apply(a, b)\nout.backward()\n",
        {"b": ("custom_function_none", 14, "Half.backward")}),
    "backward raised before reaching it": (
        "import torch\na = torch.tensor([1.0, 2.0], requires_grad=True)\nb = a.sigmoid()\n"
        "b.mul_(2)\nb.sum().backward()\n",
        {"a": ("backward_failed", 5, "line 5"), "b": ("non_leaf", 3, "retain_grad")}),
    "a no_grad function": (
        W + "b = torch.tensor(1.0, requires_grad=True)\n\n@torch.no_grad()\ndef scale(t):\n"
        "    return t * 10\n\nloss = scale(w) * b\nloss.backward()\n",
        {"w": ("no_grad", 5, "no_grad")}),
    "set_grad_enabled(False)": (
        W + "b = torch.tensor(1.0, requires_grad=True)\ntorch.set_grad_enabled(False)\n"
        "s = w * 10\ntorch.set_grad_enabled(True)\nloss = s * b\nloss.backward()\n",
        {"w": ("no_grad", 4, "no_grad"), "s": ("no_grad", 4, "no_grad")}),
    "a detached copy made a leaf again": (
        X + "w = torch.tensor(3.0, requires_grad=True)\nh = (x * 2).detach().requires_grad_()\n"
        "loss = h * w\nloss.backward()\n",
        {"x": ("detached", 4, "detach")}),
    "torch.tensor(t) copies": (
        X + "w = torch.tensor(3.0, requires_grad=True)\nv = torch.tensor(x * 2)\n"
        "loss = v * w\nloss.backward()\n",
        {"x": ("detached", 4, "clone"), "v": ("detached", 4, "clone")}),
    "the nearest of two cuts": (
        X + "w = torch.tensor(3.0, requires_grad=True)\na = x.detach()\nb = (a * 2).detach()\n"
        "loss = b * w\nloss.backward()\n",
        {"x": ("detached", 4, "detach")}),
    "retain_grad keeps a non-leaf's gradient": (
        W + "y = w * 3\ny.retain_grad()\nloss = y * 2\nloss.backward()\n", {}),
    ".to() on a leaf": (
        "import torch\nw = torch.randn(3, requires_grad=True).to(torch.float64)\n"
        "loss = (w * 2).sum()\nloss.backward()\n",
        {"w": ("non_leaf", 2, "requires_grad_() after the move")}),
    ".double() on a leaf": (
        "import torch\nw = torch.ones(2, requires_grad=True).double()\n"
        "loss = (w * 2).sum()\nloss.backward()\n",
        {"w": ("non_leaf", 2, "dtype first")}),
    "inference_mode block": (  # and the run goes on as under plain torch, no error
        W + "with torch.inference_mode():\n    s = w * 10\nloss = w * 3\nloss.backward()\n",
        {"s": ("no_grad", 3, "inference_mode"), "loss": ("non_leaf", 5, "retain_grad")}),
    "an optimizer's own no_grad is not the snippet's cut": (
        W + "b = torch.tensor(1.0, requires_grad=True)\nopt = torch.optim.SGD([w], lr=0.1)\n"
        "loss = w * 3\nloss.backward()\nopt.step()\nout = b * 2\n",
        {"b": ("not_connected", 3, "used in the computation"),
         "out": ("non_leaf", 8, "retain_grad")}),
    "a manual SGD step under no_grad": (
        W + "loss = (w * 3 - 1) ** 2\nloss.backward()\nwith torch.no_grad():\n"
        "    w -= 0.1 * w.grad\n", {}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_doctor_names_the_cause_and_its_line(name):
    code, expected = CASES[name]
    doc = trace_doc(code)
    found = {d["variable"]: d for d in doc["diagnostics"]}
    none = {v["name"] for v in doc["variables"] if v["grad"] is None}
    assert set(found) == none  # one diagnosis for every .grad that is None
    for variable, (code_, line, remedy) in expected.items():
        d = found[variable]
        assert (d["code"], d["line"]) == (code_, line), (name, d)
        assert remedy in d["fix"] + d["message"], (name, d)


ERRORS = {
    "in-place on a saved output": (
        "import torch\na = torch.tensor([1.0, 2.0], requires_grad=True)\nb = a.sigmoid()\n"
        "b.mul_(2)\nb.sum().backward()\n", ("inplace_modified", 5, 4)),
    "backward twice": (
        "import torch\nx = torch.tensor(2.0, requires_grad=True)\ny = x.exp()\ny.backward()\n"
        "y.backward()\n", ("graph_freed", 5, 4)),
    "backward on a detached result": (
        "import torch\nx = torch.tensor(2.0, requires_grad=True)\nz = x.detach() * 2\n"
        "z.backward()\n", ("no_grad_fn", 4, 3)),
    "backward on a tensor that never required grad": (
        "import torch\nx = torch.tensor([1.0])\ny = x * 2\ny.backward()\n",
        ("no_grad_fn", 4, 2)),
    "backward on a vector": (
        "import torch\nx = torch.ones(3, requires_grad=True)\ny = x * 2\ny.backward()\n",
        ("nonscalar_backward", 4, 3)),
    "backward under no_grad": (
        "import torch\nx = torch.tensor(2.0, requires_grad=True)\nwith torch.no_grad():\n"
        "    y = x * 2\ny.backward()\n", ("no_grad_fn", 5, 3)),
    "a None gradient used in arithmetic": (
        "import torch\nw = torch.tensor(1.0, requires_grad=True)\n"
        "b = torch.tensor(1.0, requires_grad=True)\nloss = w * 2\nloss.backward()\n"
        "b2 = b - 0.1 * b.grad\n", ("user_exception", 6, 3)),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_an_error_names_the_line_of_its_cause(name):
    code, (error_code, line, cause_line) = ERRORS[name]
    error = trace_doc(code)["error"]
    assert (error["code"], error["line"], error["cause_line"]) == (error_code, line, cause_line)


SEVERITY = {
    "a .grad read as None is a warning": (
        X + "y = x * 3\nz = y.detach() * 2\nz.requires_grad_()\nz.backward()\nprint(x.grad)\n",
        {"x": "warning", "y": "info"}),
    "a parameter the optimizer holds that got no gradient": (
        W + "b = torch.tensor(1.0, requires_grad=True)\nopt = torch.optim.SGD([w, b], lr=0.1)\n"
        "loss = w * 3\nloss.backward()\nopt.step()\n",
        {"b": "warning", "loss": "info"}),
    "a correct training loop": (
        W + "opt = torch.optim.SGD([w], lr=0.1)\nfor _ in range(3):\n    opt.zero_grad()\n"
        "    loss = (w * 3 - 1) ** 2\n    loss.backward()\n    opt.step()\n",
        {"loss": "info"}),
    "code that never calls backward": (
        W + "y = (w * 2).sum()\nprint(y)\n", {"w": "info", "y": "info"}),
}


@pytest.mark.parametrize("name", list(SEVERITY))
def test_only_a_none_gradient_someone_read_is_a_warning(name):
    code, expected = SEVERITY[name]
    doc = trace_doc(code)
    assert {d["variable"]: d["severity"] for d in doc["diagnostics"]} == expected


def test_a_warning_raised_through_the_recorder_names_the_snippets_line():
    doc = trace_doc("import torch\nx = torch.ones(2, requires_grad=True)\nv = torch.tensor(x)\n")
    assert doc["stdout"].startswith("<snippet>:3: UserWarning: To copy construct from a tensor")
    assert "gradtrace" not in doc["stdout"] and doc["stdout"].endswith("\n  v = torch.tensor(x)\n")


def test_a_type_error_from_a_none_gradient_tells_why_it_is_none():
    error = trace_doc(ERRORS["a None gradient used in arithmetic"][0])["error"]
    assert error["type"] == "TypeError" and "NoneType" in error["message"]
    assert "(b.grad is None: b requires grad, but no backward pass reached it" in error["message"]


def test_raw_errors_get_their_code_and_what_to_do():
    float32 = trace_doc((EXAMPLES / "pitfalls/gradcheck_float32.py").read_text())["error"]
    assert float32["code"] == "gradcheck_precision" and "Pass float64 inputs" in float32["message"]
    assert trace_doc((EXAMPLES / "pitfalls/gradcheck_float64.py").read_text())["error"] is None
    wrong = trace_doc(  # a wrong backward in float64 is not a precision problem
        "import torch\n\nclass Bad(torch.autograd.Function):\n    @staticmethod\n"
        "    def forward(ctx, x):\n        return x * 2\n\n    @staticmethod\n"
        "    def backward(ctx, g):\n        return g * 3\n\n"
        "x = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)\n"
        "torch.autograd.gradcheck(Bad.apply, (x,))\n")["error"]
    assert wrong["type"] == "GradcheckError" and wrong["code"] == "user_exception"


def test_a_variable_is_placed_at_the_binding_that_ran_not_a_later_one_that_never_did():
    doc = trace_doc("import torch\nx = torch.tensor([1.0])\ny = x * 2\ny.backward()\n"
                    "x = torch.tensor([1.0], requires_grad=True)\n")
    assert doc["error"]["code"] == "no_grad_fn" and doc["error"]["cause_line"] == 2
    found = {d["variable"]: (d["code"], d["line"]) for d in doc["diagnostics"]}
    assert found["x"] == ("requires_grad_false", 2)
    assert next(v for v in doc["variables"] if v["name"] == "x")["line"] == 2


def test_a_variable_is_dated_to_the_line_that_bound_it_not_its_in_place_updates():
    # The "Learning PyTorch with Examples" fit: a and b are updated in place every pass.
    doc = trace_doc("import torch\nx = torch.linspace(-1, 1, 5)\n"
                    "a = torch.randn((), requires_grad=True)\n"
                    "for t in range(3):\n    loss = (a * x).pow(2).sum()\n    loss.backward()\n"
                    "    with torch.no_grad():\n        a -= 0.1 * a.grad\n        a.grad = None\n")
    assert next(v for v in doc["variables"] if v["name"] == "a")["line"] == 3


@pytest.mark.parametrize("cap, says", [(0, "what the GPU has free"),
                                       (1024, "this run's cap of 1024 MiB")])
def test_cuda_out_of_memory_is_a_memory_limit_that_says_what_to_do(cap, says):
    """torch.OutOfMemoryError is what CUDA's allocator raises past the run's cap (on a GPU:
    tests/test_gpu.py). Its text is a paragraph about the allocator; the doctor leads with what
    happened and what to do, and keeps CUDA's words after."""
    from gradtrace.capture import CaptureConfig

    cuda_said = ("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of "
                 "79.19 GiB of which 77.00 GiB is free. Of the allocated memory 1.00 GiB is "
                 "allocated by PyTorch.")
    doc = trace_doc(f"import torch\nraise torch.OutOfMemoryError({cuda_said!r})\n",
                    config=CaptureConfig(gpu_memory_mb=cap))
    error = doc["error"]
    assert (error["type"], error["code"], error["line"]) == ("OutOfMemoryError", "memory_limit", 2)
    assert error["message"].startswith(
        f"the snippet asked the GPU for more memory than {says} (tried to allocate 2.00 GiB): "
        "use smaller tensors or a smaller batch")
    assert error["message"].endswith(f"CUDA said: {cuda_said}")
