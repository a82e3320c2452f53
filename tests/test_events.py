"""The run as events: applied in order, they rebuild exactly the document capture returns."""


import pytest

from conftest import EXAMPLES, example_id, example_paths
from gradtrace.capture import capture
from gradtrace.capture.stream import EventStream
from gradtrace.trace import jsonio
from gradtrace.trace.protocol import EVENT_TYPES, document, rebuild
from gradtrace.trace.wire import graph_from_wire


def captured_with_events(code: str):
    batches = []
    stream = EventStream(lambda events: batches.append(jsonio.loads(jsonio.dumps(events))))
    trace = capture(code, stream=stream)
    return document(trace), [e for batch in batches for e in batch], batches


@pytest.mark.parametrize("path", example_paths(), ids=example_id)
def test_events_rebuild_the_document(path):
    doc, events, _ = captured_with_events(path.read_text())
    assert jsonio.loads(jsonio.dumps(doc)) == rebuild(events)
    assert {e["type"] for e in events} <= set(EVENT_TYPES)
    assert events[0]["type"] == "start"


def test_event_order_forward_then_graph_then_pass_then_backward():
    doc, events, _ = captured_with_events((EXAMPLES / "basics/wx_plus_b_loss.py").read_text())
    kinds = [e["type"] for e in events]
    first_pass = kinds.index("pass")
    assert kinds.index("graph") < first_pass < kinds.index("backward")
    assert all(k in ("start", "cut", "forward") for k in kinds[:kinds.index("graph")])
    assert kinds[-4:] == ["graph", "variables", "diagnostics", "pass_log"]


def test_long_loop_streams_each_lean_pass_as_its_loss_alone():
    doc, events, batches = captured_with_events(
        (EXAMPLES / "training/manual_linear_xor.py").read_text())
    progress = [pair for e in events if e["type"] == "progress" for pair in e["losses"]]
    log = doc["pass_log"]
    outright = {i for i, why in zip(log["kept"], log["why"], strict=True) if why != "last"}
    assert [i for i, _ in progress] == [i for i in range(1000) if i not in outright]
    assert [loss for _, loss in progress] == [log["losses"][i] for i, _ in progress]
    headers = [e["pass"]["index"] for e in events if e["type"] == "pass"]
    assert headers == log["kept"]  # only kept passes are sent in full, once each
    assert len(batches) > 2  # written as the run went, not all at the end
    assert rebuild(events)["pass_log"]["skipped"] == 1000 - len(log["kept"])


def test_the_graph_sent_before_the_first_pass_is_labelled_as_the_final_one():
    doc, events, _ = captured_with_events((EXAMPLES / "basics/wx_plus_b_loss.py").read_text())
    early = graph_from_wire(next(e for e in events if e["type"] == "graph")["graph"], [])
    final = {n["id"]: n["label"] for n in doc["graph"]["nodes"]}
    assert {n["id"]: n["label"] for n in early["nodes"]} == final
    assert sorted(final.values()) == ["b", "loss", "w", "w * x", "x", "y"]


def test_error_event_comes_with_its_line():
    _, events, _ = captured_with_events(
        (EXAMPLES / "pitfalls/second_backward_graph_freed.py").read_text())
    error = next(e for e in events if e["type"] == "error")["error"]
    assert (error["code"], error["line"]) == ("graph_freed", 11)
    passes = [e for e in events if e["type"] == "backward"]
    assert passes[-1]["result"]["error"].startswith("RuntimeError")
