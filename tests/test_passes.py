"""Which passes of a loop are kept, and what a kept pass holds: the same as a full record.

Passes not kept outright are recorded lean (capture/passes.py) and only the last few are turned
into full records when the run ends; these tests hold them to a run that records every pass in
full, and to plain torch.
"""

import pytest

from conftest import EXAMPLES, run_plain, trace_doc
from gradtrace.capture import CaptureConfig
from gradtrace.trace.passplan import PassSpecError, keep_reason, parse_passes

LOOP = """
import torch
torch.manual_seed(0)
w = torch.randn(3, requires_grad=True)
x = torch.randn(5, 3)
losses = []
for step in range(40):
    h = x @ w
    h.add_(1)  # changes a recorded output in place: its step keeps the value from before
    loss = (h.relu() ** 2).mean()
    loss.backward()
    losses.append(loss.item())
    with torch.no_grad():
        w -= 0.1 * w.grad
        w.grad = None
"""


def _nodes(doc):
    return {n["id"]: n for n in doc["graph"]["nodes"]}


def _pass_view(doc, index, first_step):
    """A kept pass as names and values, free of node and tensor ids (which differ by design),
    with the forward steps of its segment (from ``first_step`` on)."""
    nodes = _nodes(doc)
    record = next(p for p in doc["passes"] if p["index"] == index)
    forward = [(s["op"], s["line"], s["values"]) for s in doc["steps"]
               if first_step <= s["index"] <= record["after_step"]]
    backward = [(nodes[s["node"]]["name"] if s["node"] is not None else s["kind"],
                 s["grad_in"], s["grad_out"], s.get("grad_before"), s.get("grad_after"))
                for s in record["steps"]]
    return record["loss"], forward, backward


def test_a_loop_keeps_the_first_passes_a_sample_and_the_last_and_every_loss():
    config = CaptureConfig(head_passes=3, tail_passes=4)
    doc = trace_doc(LOOP, config=config)
    log = doc["pass_log"]
    assert log["kept"] == [0, 1, 2, 15, 31, 36, 37, 38, 39]
    assert log["why"] == ["first"] * 3 + ["sample"] * 2 + ["last"] * 4
    namespace, error = run_plain(LOOP)
    assert error is None
    assert log["losses"] == pytest.approx(namespace["losses"], rel=1e-6)


@pytest.mark.parametrize("index", [0, 2, 15, 37, 39])
def test_a_kept_pass_equals_the_same_pass_recorded_in_full(index):
    lean = trace_doc(LOOP, config=CaptureConfig(head_passes=3, tail_passes=4))
    full = trace_doc(LOOP, config=CaptureConfig(every_pass=1))
    assert full["pass_log"]["kept"] == list(range(40))
    first_step = full["passes"][index - 1]["after_step"] + 1 if index else 0
    view = _pass_view(full, index, first_step)
    assert view[1] and view[2]  # a segment of forward steps, and the backward's
    assert _pass_view(lean, index, first_step) == view


def test_a_recorded_output_changed_in_place_keeps_its_value_from_before():
    doc = trace_doc(LOOP, config=CaptureConfig(head_passes=1, tail_passes=2))
    namespace, _ = run_plain(LOOP)
    last = doc["passes"][-1]
    matmul = [s for s in doc["steps"] if s["op"] == "matmul" and s["index"] < last["after_step"]]
    h_before = namespace["h"] - 1  # the last iteration's x @ w, before add_
    assert matmul[-1]["values"][0]["values"] == pytest.approx(h_before.tolist(), rel=1e-5)


def test_the_last_passes_of_the_seed_loop_are_whole():
    doc = trace_doc((EXAMPLES / "training/manual_linear_xor.py").read_text())
    nodes = _nodes(doc)
    last = doc["passes"][-1]
    assert last["index"] == 999 and last["roots"] and nodes[last["roots"][0]]["kind"] == "output"
    ran = [nodes[s["node"]]["name"] for s in last["steps"] if s["node"] is not None]
    assert ran[-1] == "AccumulateGrad" and len(ran) >= 5
    assert all(s["node"] in nodes for s in last["steps"] if s["node"] is not None)


def test_pass_specs_read_as_the_help_says():
    assert parse_passes("first10,last10,sample") == {
        "head_passes": 10, "tail_passes": 10, "sample_passes": True, "every_pass": 0,
        "asked_passes": frozenset()}
    config = CaptureConfig(**parse_passes("0-2,100,every50,last5"))
    assert [i for i in range(201) if keep_reason(config, i)] == [0, 1, 2, 50, 100, 150, 200]
    assert keep_reason(config, 100) == "asked"
    assert keep_reason(CaptureConfig(**parse_passes("all")), 7) == "every"
    for bad in ("first", "last-3", "9-2", "sample,x", "0-5000,6000-12000", "x" * 201):
        with pytest.raises(PassSpecError, match="--passes"):
            parse_passes(bad)


def test_big_passes_keep_at_least_the_last_and_a_huge_one_keeps_its_loss(monkeypatch):
    import gradtrace.capture.passes as passes
    import gradtrace.capture.session as session

    monkeypatch.setattr(passes, "_HELD_ELEMENTS", 100)  # each pass of LOOP holds more
    doc = trace_doc(LOOP, config=CaptureConfig(head_passes=1, sample_passes=False))
    assert doc["pass_log"]["kept"] == [0, 39] and doc["pass_log"]["why"] == ["first", "last"]
    monkeypatch.setattr(session, "LEAN_ELEMENTS", 10)  # and now too many to hold at all
    doc = trace_doc(LOOP, config=CaptureConfig(head_passes=1, sample_passes=False))
    assert doc["pass_log"]["kept"] == [0] and len(doc["pass_log"]["losses"]) == 40
    assert doc["skipped_steps"] > 0 and doc["error"] is None


ADAM_LOOP = """
import torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
opt = torch.optim.Adam(net.parameters(), lr=0.05)
x, y = torch.randn(8, 3), torch.randn(8, 1)
for step in range(30):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(net(x), y)
    loss.backward()
    opt.step()
"""


@pytest.mark.parametrize("index", [1, 28, 29])
def test_an_optimizer_loop_keeps_passes_equal_to_a_full_record(index):
    lean = trace_doc(ADAM_LOOP, config=CaptureConfig(head_passes=2, tail_passes=2))
    full = trace_doc(ADAM_LOOP, config=CaptureConfig(every_pass=1))
    assert lean["pass_log"]["kept"] == [0, 1, 15, 28, 29]
    assert lean["pass_log"]["losses"] == full["pass_log"]["losses"]
    first_step = full["passes"][index - 1]["after_step"] + 1
    assert _pass_view(lean, index, first_step) == _pass_view(full, index, first_step)
    namespace, _ = run_plain(ADAM_LOOP)
    weight = next(v for v in lean["variables"] if v["name"] == "net.0.weight")
    assert weight["value"]["values"] == pytest.approx(
        namespace["net"][0].weight.flatten().tolist(), rel=1e-5)
