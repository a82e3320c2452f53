"""A tensor changed in place after it was recorded keeps, in its step (and its node), the value it
had then; plain PyTorch, run up to that line or that iteration, is the oracle.

tests/test_recorder.py covers one change under no_grad, through every route (an in-place op,
setitem, out=, .data, numpy), seen from the step before it. Here: in-place ops that autograd
records, chains of changes where every step keeps its own value, changes through views and to
tensors outside autograd, and training loops, whose parameters and gradients change in place on
every iteration, with the passes in between dropped.
"""

import pytest

from conftest import run_plain, trace_doc, variable
from gradtrace.capture import CaptureConfig

PRELUDE = "import torch\nx = torch.tensor([-1.0, 2.0, -3.0], requires_grad=True)\n"


def line_of(code: str, text: str) -> int:
    """The number of the first line of ``code`` that holds ``text``."""
    return next(i for i, line in enumerate(code.splitlines(), 1) if text in line)


def after_line(code: str, line: int, name: str) -> list:
    """``name``'s values once plain PyTorch has run ``code`` up to and including ``line``."""
    namespace, error = run_plain("\n".join(code.splitlines()[:line]) + "\n")
    assert error is None, error
    return namespace[name].detach().reshape(-1).tolist()


def outputs_on(doc: dict, line: int) -> list:
    """The first output's values of each step on ``line``, in order."""
    return [s["values"][0]["values"] for s in doc["steps"] if s["line"] == line]


def assert_values(got: list, want: list, what: str = "") -> None:
    assert got == pytest.approx(want, rel=2e-6, abs=1e-12), what


# -- one change, then more steps ---------------------------------------------------------------

# A change to y = x * 2, and the part of y that its last step outputs.
CHANGES = {
    "add_": ("y.add_(1)", slice(None)),
    "relu_": ("y.relu_()", slice(None)),
    "clamp_": ("y.clamp_(min=0)", slice(None)),
    "augmented assignment": ("y += x", slice(None)),
    "setitem": ("y[0] = 5", slice(None)),
    "masked setitem": ("y[y < 0] = 0", slice(None)),
    "through a view": ("y[1:].mul_(10)", slice(1, None)),
    "mul_ under no_grad": ("with torch.no_grad():\n    y.mul_(3)", slice(None)),
    "copy_ under no_grad": ("with torch.no_grad():\n    y.copy_(torch.arange(3.0))", slice(None)),
    "out= under no_grad": ("with torch.no_grad():\n    torch.add(x, 1, out=y)", slice(None)),
}


@pytest.mark.parametrize("change, part", list(CHANGES.values()), ids=list(CHANGES))
def test_the_step_and_node_that_made_a_tensor_keep_its_value_from_before_the_change(change,
                                                                                     part):
    code = PRELUDE + "y = x * 2\n" + change + "\nz = y * 1\nz.sum().backward()\n"
    doc = trace_doc(code)
    assert doc["error"] is None, doc["error"]
    made = line_of(code, "y = x * 2")
    before = after_line(code, made, "y")
    assert before == [-2.0, 4.0, -6.0]
    (step,) = [s for s in doc["steps"] if s["line"] == made]
    assert_values(step["values"][0]["values"], before, "the step")
    nodes = {n["id"]: n for n in doc["graph"]["nodes"]}
    mul = next(nodes[i] for i in step["nodes"] if nodes[i]["name"] == "MulBackward0")
    assert_values(mul["values"][0]["values"], before, "its node")
    changed = len(code.splitlines()) - 2  # the change's last line
    after = after_line(code, changed, "y")
    assert after != before
    assert_values(outputs_on(doc, changed)[-1], after[part], "the change's own step")
    assert_values(outputs_on(doc, changed + 1)[0], after, "the step after it")


# -- chains of changes -------------------------------------------------------------------------

# Statements, each with the tensor its last step outputs (None: a line without a step).
CHAINS = {
    "on a graph tensor": [
        ("y = x * 2", "y"), ("y.add_(1)", "y"), ("y.relu_()", "y"), ("y[0] = 5", "y"),
        ("y.mul_(x.detach())", "y"), ("with torch.no_grad():", None), ("    y.mul_(3)", "y"),
        ("    y.sub_(1)", "y"), ("y.exp_()", "y")],  # (no backward: relu_ saved its result)
    "outside autograd": [
        ("buf = torch.zeros(3)", "buf"), ("buf.add_(x.detach())", "buf"), ("buf.mul_(2)", "buf"),
        ("buf[1] = 7", "buf"), ("torch.add(buf, 1, out=buf)", "buf"),
        ("buf.clamp_(max=4)", "buf"), ("buf += buf", "buf")],
    "base and view": [
        ("y = x * 1", "y"), ("v = y[:2]", "v"), ("y.add_(1)", "y"), ("v.mul_(10)", "v"),
        ("w = y.view(3, 1)", "w"), ("w.sub_(100)", "w"), ("y.sum().backward()", None)],
}


@pytest.mark.parametrize("chain", list(CHAINS.values()), ids=list(CHAINS))
def test_every_step_of_a_chain_of_changes_keeps_its_own_value(chain):
    """Each statement changes a tensor that earlier steps made or changed: every step says what
    its output held right after it, whether it changed the tensor itself, through a view, or the
    view through its base."""
    code = PRELUDE + "".join(statement + "\n" for statement, _ in chain)
    doc = trace_doc(code)
    assert doc["error"] is None, doc["error"]
    first = len(PRELUDE.splitlines()) + 1
    for number, (statement, name) in enumerate(chain, first):
        if name is not None:
            want = after_line(code, number, name)
            assert_values(outputs_on(doc, number)[-1], want, f"line {number}: {statement}")


# -- training loops ----------------------------------------------------------------------------

# A linear fit by hand: its forward and backward, and where the oracle notes what it saw. Each
# loop below adds its own update of w.
LINEAR_FIT = """import torch
_seen = []
torch.manual_seed(0)
x = torch.randn(4, 3)
target = torch.randn(4)
w = torch.randn(3, requires_grad=True)
lr = 0.1
for i in range({iterations}):
    pred = x @ w
    loss = ((pred - target) ** 2).mean()
    loss.backward()
    {record}
"""
MANUAL_SGD = LINEAR_FIT + """    w.grad.clamp_(-0.5, 0.5)
    with torch.no_grad():
        w -= lr * w.grad
    w.grad.zero_()
"""
# What the oracle notes at each iteration, after its backward, before its update (the gradient
# is clipped in place at once: the pass must have said what backward left in it before that).
MANUAL_SGD_RECORD = ("_seen.append(dict(pred=pred.detach().clone(), loss=loss.detach().clone(), "
                     "grad=w.grad.clone(), step=lr * w.grad.clamp(-0.5, 0.5), "
                     "updated=(w - lr * w.grad.clamp(-0.5, 0.5)).detach()))")

OPTIMIZER = """import torch
_seen = []
torch.manual_seed(0)
x = torch.randn(4, 3)
target = torch.randn(4)
model = torch.nn.Linear(3, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for i in range({iterations}):
    opt.zero_grad()
    pred = model(x).squeeze(1)
    loss = ((pred - target) ** 2).mean()
    loss.backward()
    {record}
    opt.step()
"""
OPTIMIZER_RECORD = ("_seen.append(dict(pred=pred.detach().clone(), loss=loss.detach().clone(), "
                    "grad=model.weight.grad.clone()))")


def traced_and_plain(template: str, record: str, iterations: int, **capture):
    """The loop's trace, and what plain PyTorch held at each iteration (the oracle notes it on
    the line where the traced snippet has `pass`, so the lines are the same)."""
    code = template.format(iterations=iterations, record="pass")
    doc = trace_doc(code, **capture)
    assert doc["error"] is None, doc["error"]
    namespace, error = run_plain(template.format(iterations=iterations, record=record))
    assert error is None, error
    seen = [{k: v.reshape(-1).tolist() for k, v in entry.items()} for entry in namespace["_seen"]]
    assert len(seen) == iterations
    return code, doc, seen


def last_output_before(doc: dict, line: int, index: int) -> list:
    """The output of the last step on ``line`` before step ``index``: the value that line's
    statement assigned (its last op) in the iteration that ``index`` ends."""
    found = [s for s in doc["steps"] if s["line"] == line and s["index"] < index]
    assert found, f"no step on line {line} before step {index}"
    return found[-1]["values"][0]["values"]


def assert_kept_passes_saw_plain_values(code: str, doc: dict, seen: list, parameter: str):
    """Each kept pass: its forward steps' outputs, its loss, and the gradient it left in
    ``parameter`` are what plain PyTorch had at that iteration."""
    pred_line, loss_line = line_of(code, "pred = "), line_of(code, "loss = ")
    node = variable(doc, parameter)["node"]
    for p in doc["passes"]:
        at, what = seen[p["index"]], f"pass {p['index']}"
        assert_values(last_output_before(doc, pred_line, p["after_step"] + 1), at["pred"], what)
        assert_values(last_output_before(doc, loss_line, p["after_step"] + 1), at["loss"], what)
        assert p["loss"] == pytest.approx(at["loss"][0], rel=2e-6), what
        (accumulated,) = [s for s in p["steps"] if s.get("node") == node]
        assert_values(accumulated["grad_after"]["values"], at["grad"], f"{what}: grad")


def test_a_training_loop_keeps_each_iterations_values_though_parameters_change_in_place():
    """w.grad.clamp_, w -= lr * w.grad and w.grad.zero_() change w and its gradient in place
    every iteration; every step and pass still holds what it saw then."""
    code, doc, seen = traced_and_plain(MANUAL_SGD, MANUAL_SGD_RECORD, 6)
    assert max(map(abs, seen[0]["grad"])) > 0.5  # the clipping changes the first gradient
    assert [p["index"] for p in doc["passes"]] == list(range(6))  # short: all kept
    assert_kept_passes_saw_plain_values(code, doc, seen, "w")
    made = line_of(code, "w = torch.randn")
    (creation,) = outputs_on(doc, made)
    assert_values(creation, after_line(code, made, "w"), "w as made, before any update")
    update = line_of(code, "w -= ")
    operands, updated = outputs_on(doc, update)[0::2], outputs_on(doc, update)[1::2]
    assert len(operands) == len(updated) == 6
    for i, at in enumerate(seen):
        assert_values(operands[i], at["step"], f"lr * w.grad at iteration {i}")
        assert_values(updated[i], at["updated"], f"w after update {i}")
    zeroed = outputs_on(doc, line_of(code, "w.grad.zero_()"))
    assert zeroed == [[0.0, 0.0, 0.0]] * 6


@pytest.mark.parametrize("template, record, parameter", [
    (MANUAL_SGD, MANUAL_SGD_RECORD, "w"),
    (OPTIMIZER, OPTIMIZER_RECORD, "model.weight"),
], ids=["w -= lr * w.grad", "optim.SGD with momentum"])
def test_a_long_loops_kept_passes_hold_the_values_of_their_own_iterations(template, record,
                                                                          parameter):
    """50 iterations, the first 2 and last 2 passes kept: the ones in between changed every
    parameter in place, and each kept pass still holds the values of its own iteration."""
    code, doc, seen = traced_and_plain(template, record, 50,
                                       config=CaptureConfig(head_passes=2, tail_passes=2))
    kept = [p["index"] for p in doc["passes"]]
    assert {0, 1, 48, 49} <= set(kept) and len(kept) < 50, kept
    assert doc["pass_log"]["total"] == 50
    assert_kept_passes_saw_plain_values(code, doc, seen, parameter)
    if template is MANUAL_SGD:  # the update after the last pass: its operand, then w after it
        last = doc["passes"][-1]["after_step"]
        update = line_of(code, "w -= ")
        after = [s["values"][0]["values"] for s in doc["steps"]
                 if s["line"] == update and s["index"] > last]
        assert len(after) == 2
        assert_values(after[0], seen[49]["step"], "lr * w.grad at iteration 49")
        assert_values(after[1], seen[49]["updated"], "w after the last update")


# The pre-0.4 idiom: updates through `.data`, an alias under another id. Its first in-place op
# comes after the alias is made, and a lean pass finds what to copy by identity.
DATA_SGD = LINEAR_FIT + """    step = lr * w.grad
    step.data.clamp_(-0.01, 0.01)
    w.data -= step.data
    w.grad.data.zero_()
"""
DATA_SGD_RECORD = ("_seen.append(dict(pred=pred.detach().clone(), loss=loss.detach().clone(), "
                   "grad=w.grad.clone(), step=lr * w.grad))")


def test_a_change_through_data_leaves_each_kept_pass_its_own_values():
    code, doc, seen = traced_and_plain(DATA_SGD, DATA_SGD_RECORD, 50,
                                       config=CaptureConfig(head_passes=2, tail_passes=2))
    assert {0, 1, 48, 49} <= {p["index"] for p in doc["passes"]}
    assert_kept_passes_saw_plain_values(code, doc, seen, "w")
    assert max(abs(v) for v in seen[49]["step"]) > 0.01  # the clamp changes it
    step_line = line_of(code, "step = ")
    kept = [p["index"] for p in doc["passes"]]
    for p in doc["passes"]:  # an update is kept when the pass after it is (or none comes)
        if p["index"] + 1 in kept or p["index"] == 49:
            (made, *_) = [s for s in doc["steps"]
                          if s["line"] == step_line and s["index"] > p["after_step"]]
            assert_values(made["values"][0]["values"], seen[p["index"]]["step"],
                          f"step at pass {p['index']}, before its clamp")
