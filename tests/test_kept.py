"""What the server keeps for `inspect`: the rules, the previews, and the cap on a run's memory."""

import pytest

from gradtrace.trace.wire import GRAPH_STRINGS, WireError, graph_merged, summary_from_wire
from gradtrace.web.kept import KEPT_NODE_BYTES, LISTED_LIMIT, MAX_VIEW_NODES, KeptRun


def variables_event(values: list) -> dict:
    value = {"shape": [len(values)], "numel": len(values), "min": min(values, default=None),
             "max": max(values, default=None), "norm": 1.0, "values": values}
    return {"type": "variables", "variables": [{"name": "w", "value": value, "grad": None}]}


def listed(values: list) -> list:
    """A summary as the worker sends it in columns: 10 fields, then the values."""
    numbers = [v for v in values if isinstance(v, float)]
    return [[len(values)], "float32", "cpu", len(values), min(numbers), max(numbers), 0.0, 1.0,
            len(values) - len(numbers), 0, values]


def test_a_few_values_travel_whole_and_more_are_kept_by_id():
    run = KeptRun()
    few = variables_event([0.5] * LISTED_LIMIT)
    run.strip([few])
    assert few["variables"][0]["value"]["values"] == [0.5] * LISTED_LIMIT
    many = variables_event([0.5] * 65)
    run.strip([many])
    sent = many["variables"][0]["value"]
    assert "values" not in sent and sent["norm"] == 1.0 and "preview" not in sent  # 65 > 64
    assert sent["kept"] >= 1  # never a falsy id
    assert run.answer({"summary": sent["kept"]})["value"]["values"] == [0.5] * 65
    assert run.answer({"variable": "w"})["value"]["values"] == [0.5] * 65


def test_a_preview_is_each_value_as_a_sixteenth_of_its_range():
    run = KeptRun()
    event = {"type": "forward", "steps": {"columns": {"values": [
        [listed([0.0, 1.0, 0.5, 0.999, "nan", 0.25])]]}}}
    run.strip([event])
    sent = event["steps"]["columns"]["values"][0][0]
    assert len(sent) == 12 and sent[10] == "0f8fx4" and sent[11] >= 1
    doc = summary_from_wire(sent)
    assert doc["preview"] == "0f8fx4" and "values" not in doc
    whole = run.answer({"summary": doc["kept"]})["value"]
    assert whole["values"] == [0.0, 1.0, 0.5, 0.999, "nan", 0.25]


def graph_event(values: list, edges: list) -> dict:
    ids = list(range(len(values)))
    return {"type": "graph", "graph": {"strings": ["op"], "edges": edges, "nodes": {
        "id": ids, "line": [1] * len(ids), "step": ids, "pass": [None] * len(ids),
        "layer": ids, "row": [0] * len(ids), "values": values, "saved": [None] * len(ids),
        **{key: [0] * len(ids) for key in GRAPH_STRINGS}}}}


def test_the_final_graph_goes_as_its_difference_from_the_first():
    run = KeptRun()
    first = graph_event([[listed([1.0] * 8)], [[0, 0]]], [0, 1, 0, 0])
    final = graph_event([[listed([1.0] * 8)], [[0, 0]], [listed([2.0] * 3)]],
                        [0, 1, 0, 0, 1, 2, 0, 0])
    final["graph"]["nodes"]["row"] = [1, 1, 1]  # laid out again
    final["graph"]["base"] = {"nodes": 2, "edges": 0, "tails": []}  # forged by the worker
    run.strip([first])
    run.strip([final])
    sent = final["graph"]
    assert sent["base"] == {"nodes": 2, "edges": 4,
                            "tails": ["id", "line", "step", "pass", "layer", "values", "saved"]}
    assert sent["nodes"]["values"] == [[listed([2.0] * 3)]] and sent["nodes"]["row"] == [1, 1, 1]
    assert sent["edges"] == [1, 2, 0, 0]
    whole = graph_merged(first["graph"], sent)
    assert whole["nodes"]["values"][0] == first["graph"]["nodes"]["values"][0]  # the same id
    assert whole["nodes"]["id"] == [0, 1, 2] and whole["edges"] == [0, 1, 0, 0, 1, 2, 0, 0]
    assert len(run.summaries) == 1


@pytest.mark.parametrize("base", [{"nodes": 3, "edges": 0, "tails": []},
                                  {"nodes": 1, "edges": 2, "tails": []},
                                  {"nodes": 1, "edges": 0, "tails": ["kind"]},
                                  {"nodes": -1, "edges": 0, "tails": []}, [], "all"])
def test_a_difference_that_does_not_fit_the_graph_before_it_is_refused(base):
    before = graph_event([[], []], [0, 1, 0, 0])["graph"]
    delta = {**graph_event([[]], [])["graph"], "base": base}
    with pytest.raises(WireError):
        graph_merged(before, delta)
    with pytest.raises(WireError):
        graph_merged(None, {**delta, "base": {"nodes": 0, "edges": 0, "tails": []}})


def test_a_run_over_the_cap_keeps_nothing_and_says_so():
    run = KeptRun()
    run.strip([variables_event([0.5] * 2_000_000)])  # 2M numbers: about 24 MB of JSON
    assert run.summaries == {} and run.variables == {} and run.saved == {}
    assert "over 16 MiB" in run.answer({"variable": "w"})["error"]
    event = variables_event([0.5] * 100)
    run.strip([event])  # and keeps nothing after, though the stream still goes without them
    assert "values" not in event["variables"][0]["value"]
    assert "over 16 MiB" in run.answer({"summary": 1})["error"]


def test_a_kept_graph_counts_and_one_too_big_to_lay_out_again_is_not_kept():
    run = KeptRun()
    run.strip([graph_event([[]] * 1000, [])])
    assert run.holds == 1000 * KEPT_NODE_BYTES
    huge = graph_event([[]] * (MAX_VIEW_NODES + 1), [])
    run.strip([huge])
    assert run.holds == 0 and "base" not in huge["graph"]  # sent whole, and not kept
    reply = run.view({"collapsed": None})
    assert "too big to lay out again" in reply["error"] and "100,001" in reply["error"]
