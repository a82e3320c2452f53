"""The server's checks on worker events: every real event passes, forged ones are refused with a
message that says what and where, and no value, however odd, makes the check raise."""

import copy
import json
import math
import random
import time

import pytest

from conftest import example_id, example_paths
from gradtrace.capture import capture
from gradtrace.capture.stream import EventStream
from gradtrace.trace import jsonio
from gradtrace.trace.protocol import (
    EVENT_TYPES,
    done_event,
    end_event,
    queued_event,
    rebuild,
    rejected_event,
)
from gradtrace.trace.untrusted import (
    MAX_DEPTH,
    MAX_INT,
    MAX_LINE_BYTES,
    MAX_STRING_CHARS,
    SERVER_EVENT_TYPES,
    WORKER_EVENT_TYPES,
    check_answer,
    check_batch,
    check_relayed,
)
from gradtrace.web.kept import KeptRun


def captured_lines(code: str) -> list[str]:
    """The lines a worker writes on its event pipe for ``code`` (worker.py's format)."""
    lines = []
    stream = EventStream(lambda batch: lines.append(jsonio.dumps(batch).decode()))
    capture(code, stream=stream)
    stream.push(end_event())  # as the worker does, after any output that bypassed Python
    stream.drain()
    return lines


@pytest.fixture(scope="module")
def example_lines() -> dict[str, list[str]]:
    return {example_id(path): captured_lines(path.read_text()) for path in example_paths()}


@pytest.fixture()
def events(example_lines) -> list[dict]:
    """Fresh copies of the events of a small training step, to forge from."""
    return [e for line in example_lines["training/sgd_step_linear.py"] for e in json.loads(line)]


def of_type(events: list[dict], kind: str) -> dict:
    return next(e for e in events if e["type"] == kind)


# -- real events ----------------------------------------------------------------------------------


def test_every_event_of_every_example_passes(example_lines):
    seen = set()
    for name, lines in example_lines.items():
        for line in lines:
            assert len(line.encode()) < MAX_LINE_BYTES, name
            batch = json.loads(line)
            assert check_batch(batch) is None, name
            seen.update(e["type"] for e in batch)
    assert seen == WORKER_EVENT_TYPES  # the examples send every kind of event
    assert WORKER_EVENT_TYPES == set(EVENT_TYPES) - {"done"}


def test_an_empty_batch_passes():
    assert check_batch([]) is None


def test_unknown_keys_pass_under_the_caps(events):
    stdout = {"type": "stdout", "text": "hi", "extra": {"a": [1, 2.5, "x", None, True]}}
    graph = of_type(events, "graph")
    graph["graph"]["nodes"]["colour"] = ["red"]
    variables = of_type(events, "variables")
    variables["variables"][0]["value"]["quantiles"] = [0.1, 0.5]
    assert check_batch([stdout, graph, variables]) is None


def test_summaries_with_nan_and_complex_values_pass():
    code = ("import torch\nx = torch.tensor([1.0, float('nan'), float('inf')], requires_grad=True)"
            "\nz = torch.tensor([1 + 2j, 3 - 1j])\ny = (x * 2).sum()\ny.backward()\n")
    for line in captured_lines(code):
        assert check_batch(json.loads(line)) is None


# -- forged events --------------------------------------------------------------------------------


def test_a_batch_must_be_a_list_of_objects():
    assert check_batch({"type": "stdout", "text": "x"}) == \
        "a batch must be a list of events, not dict"
    assert check_batch(None) == "a batch must be a list of events, not null"
    assert check_batch([{"type": "stdout", "text": "x"}, [1]]) == \
        "event 1: must be an object, not list"


@pytest.mark.parametrize("kind", ["done", "queued", "rejected"])
def test_the_servers_own_events_are_refused(kind):
    forged = {"type": kind, "status": "ok", "duration_ms": 1, "position": 1, "message": "hi"}
    assert check_batch([forged]) == \
        f'event 0: type "{kind}" is sent by the server, never by a worker'


@pytest.mark.parametrize("setup, refused", [
    ({"seed": "0; rm -rf /"}, "must be a non-negative integer or null, not str"),
    ({"threads": -3}, "must be a non-negative integer, not -3"),
    ({"threads": True}, "must be a non-negative integer"),
])
def test_a_forged_run_setup_is_refused(setup, refused):
    start = {"type": "start", "schema": "gradtrace/1", "device": "cpu", "seed": 0, "threads": 1}
    assert check_batch([start]) is None
    assert refused in check_batch([{**start, **setup}])


def test_unknown_and_missing_types_are_refused():
    assert check_batch([{"type": "<script>alert(1)</script>"}]) == \
        "event 0: has an unknown type, '<script>alert(1)</script>'"
    assert check_batch([{"text": "x"}]) == "event 0: has no type"
    assert check_batch([{"type": 3}]) == "event 0: type must be a string, not int"
    assert check_batch([{"type": "stdout"}]) == "event 0 (stdout): has no field 'text'"


def test_html_in_a_line_number_is_refused(events):
    variables = of_type(events, "variables")
    variables["variables"][0]["line"] = '<img src=x onerror="alert(1)">'
    assert check_batch([of_type(events, "start"), variables]) == (
        "event 1 (variables): variables[0].line must be a non-negative integer or null, "
        "not str")


def test_a_string_node_id_is_refused(events):
    graph = of_type(events, "graph")
    graph["graph"]["nodes"]["id"][3] = "3"
    assert check_batch([graph]) == \
        "event 0 (graph): graph.nodes.id[3] must be a non-negative integer, not str"


def test_a_forged_value_reference_is_refused_or_reads_as_unknown(events):
    """A node's value may point at a step's output: [step, output]. Anything else of two items
    is refused; a pointer to no step received rebuilds as null, never as another's value."""
    graph = copy.deepcopy(of_type(events, "graph"))
    refs = [(i, j) for i, values in enumerate(graph["graph"]["nodes"]["values"])
            for j, v in enumerate(values) if type(v) is list and len(v) == 2]
    assert refs, "the example's graph refers to its steps' values"
    i, j = refs[0]
    graph["graph"]["nodes"]["values"][i][j] = [-1, 0]
    assert "must be a non-negative integer" in check_batch([graph])
    graph["graph"]["nodes"]["values"][i][j] = [10**6, 0]
    assert check_batch([graph]) is None
    forward = [e for e in events if e["type"] == "forward"]
    doc = rebuild([*forward, graph])
    assert doc["graph"]["nodes"][i]["values"][j] is None
    honest = rebuild([*forward, of_type(events, "graph")])["graph"]["nodes"][i]["values"][j]
    assert honest is not None and honest["shape"] is not None


def test_a_graph_whose_columns_disagree_is_refused(events):
    """graph_from_wire indexes one column by another's positions: lengths and string indices
    must hold, or rebuilding the graph would raise."""
    graph = copy.deepcopy(of_type(events, "graph"))
    graph["graph"]["nodes"]["row"].pop()
    count = len(graph["graph"]["nodes"]["id"])
    assert check_batch([graph]) == (f"event 0 (graph): graph has a column 'row' of {count - 1} "
                                    f"items for {count} nodes")
    graph = copy.deepcopy(of_type(events, "graph"))
    strings = len(graph["graph"]["strings"])
    graph["graph"]["nodes"]["name"][0] = strings
    assert check_batch([graph]) == \
        f"event 0 (graph): graph has a 'name' that names no string of its {strings}"
    graph = copy.deepcopy(of_type(events, "graph"))
    graph["graph"]["edges"].append(0)
    assert check_batch([graph]) == \
        "event 0 (graph): graph has edges that are not groups of 4 numbers"


def test_a_bool_is_not_an_int(events):
    graph = of_type(events, "graph")
    graph["graph"]["edges"][0] = True
    assert check_batch([graph]) == \
        "event 0 (graph): graph.edges[0] must be a non-negative integer, not bool"
    step = of_type(events, "forward")
    step["steps"]["columns"]["index"][0] = False
    assert check_batch([step]) == \
        "event 0 (forward): steps.columns.index[0] must be a non-negative integer, not bool"


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_a_layer_must_be_a_whole_number(events, number):
    graph = of_type(events, "graph")
    graph["graph"]["nodes"]["layer"][1] = number
    assert check_batch([graph]) == \
        "event 0 (graph): graph.nodes.layer[1] must be a non-negative integer, not float"


def test_nan_is_refused_in_any_field_even_an_unknown_one():
    assert check_batch([{"type": "stdout", "text": "", "extra": [1.0, {"a": math.nan}]}]) == \
        "event 0 (stdout): extra[1].a must be a finite number, not nan"


def test_a_string_over_the_cap_is_refused():
    assert check_batch([{"type": "stdout", "text": "x" * MAX_STRING_CHARS}]) is None
    assert check_batch([{"type": "stdout", "text": "x" * (2 << 20)}]) == (
        "event 0 (stdout): text is a string of 2,097,152 characters; the limit is 1,048,576")


def test_wrong_shapes_are_refused(events):
    progress = {"type": "progress", "losses": [[1, 0.5, 3]]}
    assert check_batch([progress]) == ("event 0 (progress): losses[0] must be a list of 2 "
                                       "items, not of 3")
    variables = of_type(events, "variables")
    variables["variables"][0]["grad"] = "<b>big</b>"
    assert check_batch([variables]) == ("event 0 (variables): variables[0].grad must be a "
                                        "summary (an object), a number or null, not str")
    backward = of_type(events, "backward")
    backward["result"]["steps"]["columns"]["grad_in"][0] = {"0": None}
    assert check_batch([backward]) == ("event 0 (backward): result.steps.columns.grad_in[0] "
                                       "must be a list of non-negative integers or nulls, not "
                                       "dict")
    backward = copy.deepcopy(of_type(events, "backward"))
    count = len(backward["result"]["steps"]["summaries"])
    backward["result"]["steps"]["columns"]["grad_in"][0] = [count]
    assert check_batch([backward]) == ("event 0 (backward): result.steps has a summary index "
                                       f"{count} that names none of its {count}")


def test_compact_steps_that_would_not_decode_are_refused(events):
    """wire.py's decoders run on what passes: a step's detail may not replace its own fields,
    and a summary sent as a list has 10 or 11 items."""
    forward = copy.deepcopy(of_type(events, "forward"))
    forward["steps"]["columns"]["detail"][0] = {"index": 7}
    assert check_batch([forward]) == \
        "event 0 (forward): steps has a detail that replaces ['index']"
    forward = copy.deepcopy(of_type(events, "forward"))
    forward["steps"]["columns"]["values"][0] = [[[], "float32", "cpu"]]
    assert check_batch([forward]) == ("event 0 (forward): steps.columns.values[0][0] must be a "
                                      "summary of 10 or 11 items, not of 3")
    forward = copy.deepcopy(of_type(events, "forward"))
    forward["steps"]["columns"] = {"junk": 1, **forward["steps"]["columns"]}
    assert check_batch([forward]) is None
    forward = copy.deepcopy(of_type(events, "forward"))  # a no_grad cut's line is a line
    forward["steps"]["columns"]["detail"][0] = {"cut": "no_grad", "cut_line": "<b>4</b>"}
    assert check_batch([forward]) == ("event 0 (forward): steps.columns.detail[0].cut_line "
                                      "must be a non-negative integer, not str")


def test_a_variables_tensor_id_is_a_whole_number_or_null(events):
    variables = of_type(events, "variables")
    variables["variables"][0]["tensor"] = -1
    assert check_batch([variables]) == ("event 0 (variables): variables[0].tensor must be a "
                                        "non-negative integer or null, not -1")


def test_odd_keys_and_huge_ints_are_refused():
    assert check_batch([{"type": "stdout", "text": "", 5: 1}]) == \
        "event 0 (stdout): has a key that is not a string (int)"
    assert check_batch([{"type": "stdout", "text": "", "k" * 300: 1}]) == \
        "event 0 (stdout): has a key of 300 characters; the limit is 256"
    assert check_batch([{"type": "stdout", "text": "", "n": 10 ** 30}]) == \
        "event 0 (stdout): n is an integer beyond ±2**64 (100 bits)"
    assert check_batch([{"type": "stdout", "text": "", "n": MAX_INT}]) is None


def test_a_100000_deep_list_is_refused_without_a_crash():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert check_batch([deep]) == "event 0: must be an object, not list"
    refused = check_batch([{"type": "stdout", "text": "", "extra": deep}])
    assert refused.startswith("event 0 (stdout): extra[0][0]")
    assert refused.endswith(f"is nested more than {MAX_DEPTH} levels deep")
    assert check_batch(deep) == "event 0: must be an object, not list"


def test_no_value_makes_it_raise():
    cyclic: list = []
    cyclic.append(cyclic)
    nested: dict = {}
    for _ in range(100_000):
        nested = {"a": nested}
    odd = [(1, 2), {1, 2}, object(), b"bytes", cyclic, nested, {None: 1}, 1.5, "x", True]
    for value in odd:
        for batch in (value, [value], [{"type": "stdout", "text": "", "extra": value}],
                      [{"type": "stdout", "text": value}], [{"type": value}]):
            assert isinstance(check_batch(batch), str | None)


def test_a_bad_value_anywhere_is_refused(example_lines):
    """Values over the caps are refused wherever they sit: the fast path never waves one by."""
    batches = [json.loads(line) for name, lines in example_lines.items() for line in lines
               if name != "training/manual_linear_xor.py"]
    places = [(batch, container, key) for batch in batches
              for container, key in _scalar_places(batch)]
    rng = random.Random(0)
    bad = [math.nan, math.inf, -math.inf, "x" * (MAX_STRING_CHARS + 1), 2 ** 65, -(2 ** 65)]
    for batch, container, key in rng.sample(places, 500):
        original = container[key]
        container[key] = rng.choice(bad)
        assert check_batch(batch) is not None, (key, original)
        container[key] = original


def test_whatever_passes_rebuilds(example_lines):
    """The check is lighter than decoding: a run whose batches all pass must rebuild without an
    error. Forged whole numbers anywhere (indices, counts, ids) are refused or rebuild."""
    runs = [[json.loads(line) for line in lines] for lines in example_lines.values()
            if sum(map(len, lines)) < 200_000]  # the small runs: every sample rebuilds one
    places = [(run, batch, container, key) for run in runs for batch in run
              for container, key in _scalar_places(batch) if type(container[key]) is int]
    rng = random.Random(1)
    rebuilt = 0
    for run, batch, container, key in rng.sample(places, 600):
        original = container[key]
        container[key] = rng.choice([0, 1, 2, 3, 7, 64, 1000, 10**6])
        if check_batch(batch) is None:  # the run's other batches are as captured
            rebuild([event for batch in run for event in batch])
            rebuilt += 1
        container[key] = original
    assert rebuilt > 300  # most forgeries of a number are well-formed: they must rebuild


def _scalar_places(batch):
    """(container, key) of every scalar in ``batch``."""
    stack = [batch]
    while stack:
        container = stack.pop()
        items = container.items() if isinstance(container, dict) else enumerate(container)
        for key, item in items:
            if isinstance(item, dict | list):
                stack.append(item)
            else:
                yield container, key


# -- cost -----------------------------------------------------------------------------------------


def test_cost_is_linear_in_the_number_of_events():
    def seconds(count: int, last: dict) -> float:
        batch = [{"type": "stdout", "text": "x"} for _ in range(count - 1)] + [last]
        best = math.inf
        for _ in range(3):
            start = time.process_time()
            check_batch(batch)
            best = min(best, time.process_time() - start)
        return best

    for last in ({"type": "stdout", "text": "x"}, {"type": "done"}):
        small, large = seconds(10_000, last), seconds(100_000, last)
        assert large < 40 * max(small, 1e-4), (last, small, large)  # 10 times the events


# -- as the server relays them (read back from Redis) ---------------------------------------------


def relayed_batches(lines: list[str]) -> tuple[KeptRun, list[list[dict]]]:
    """A run's batches as its page gets them: kept.py takes the large values out, in order."""
    kept, batches = KeptRun(), [[queued_event(1)]]
    for line in lines:
        batch = json.loads(line)
        kept.strip(batch)
        batches.append(batch)
    return kept, [*batches, [rejected_event("busy"), done_event("ok", 12)]]


def test_every_relayed_batch_of_every_example_passes_as_relayed(example_lines):
    seen, deltas, kept_ids = set(), 0, 0
    for name, lines in example_lines.items():
        for batch in relayed_batches(lines)[1]:
            assert check_relayed(batch) is None, name
            seen.update(e["type"] for e in batch)
            deltas += sum("base" in e["graph"] for e in batch if e["type"] == "graph")
            kept_ids += jsonio.dumps(batch).count(b'"kept":') + sum(
                len(s) == 12 for e in batch if e["type"] == "forward"
                for values in e["steps"]["columns"]["values"] for s in values)
    assert seen == WORKER_EVENT_TYPES | SERVER_EVENT_TYPES
    assert deltas >= 40 and kept_ids >= 40  # the examples' final graphs, and their large values


def test_a_relayed_batch_is_not_what_a_worker_may_send(example_lines):
    batches = relayed_batches(example_lines["training/sgd_step_linear.py"])[1]
    assert check_batch(batches[0]) == \
        'event 0: type "queued" is sent by the server, never by a worker'
    graph = next(e for b in batches for e in b if e["type"] == "graph" and "base" in e["graph"])
    assert check_relayed([graph]) is None
    assert "graph has a column" in check_batch([graph])  # a worker's graph is whole


def test_forged_relayed_events_are_refused(example_lines):
    batches = relayed_batches(example_lines["training/sgd_step_linear.py"])[1]
    graph = next(e for b in batches for e in b if e["type"] == "graph" and "base" in e["graph"])
    forged = copy.deepcopy(graph)
    forged["graph"]["base"]["nodes"] += 10 ** 6
    assert "past its" in check_relayed([forged])
    forged = copy.deepcopy(graph)
    forged["graph"]["base"]["tails"] = ["kind"]  # a string column is never a tail
    assert "tails are not among" in check_relayed([forged])
    forged = copy.deepcopy(graph)
    forged["graph"]["base"]["tails"].remove("row")  # row is cut short, yet said whole
    assert "graph has a" in check_relayed([forged])
    listed = [[2], "float32", "cpu", 2, 0.0, 1.0, 0.5, 1.0, 0, 0]
    forward = {"type": "forward", "steps": {"strings": ["x"], "columns": {
        "index": [0], "line": [1], "kind": [0], "op": [0], "span": [0], "grad_mode": [0],
        "module": [None], "inputs": [[]], "outputs": [[0]], "nodes": [[]],
        "values": [[[*listed, "0f", 3]]], "detail": [None]}}}
    assert check_relayed([forward]) is None and check_batch([forward]) is not None
    for preview, kept_id, problem in [("0f", -1, "kept id"), ("0f", True, "kept id"),
                                      (7, 3, "preview"), ("0f", float("nan"), "kept id")]:
        forward["steps"]["columns"]["values"] = [[[*listed, preview, kept_id]]]
        assert problem in check_relayed([forward])
    assert "duration_ms" in check_relayed([{"type": "done", "status": "ok", "duration_ms": "1"}])
    assert "unknown type" in check_relayed([{"type": "welcome"}])


def test_real_answers_pass_and_forged_ones_are_refused(example_lines):
    kept, _ = relayed_batches(example_lines["training/sgd_step_linear.py"])
    layout = kept.view({"collapsed": None})
    assert "error" not in layout and check_answer("layout", layout) is None
    variable = kept.answer({"variable": "x"})
    assert "error" not in variable and check_answer("inspect", variable) is None
    node = next(n for n in kept.saved)
    assert check_answer("inspect", kept.answer({"node": node})) is None
    assert check_answer("inspect", {"error": "no run"}) is None
    assert check_answer("layout", {**layout, "ids": layout["ids"][1:]}) == \
        "an answer to layout has columns of different lengths"
    assert "groups[0]" in check_answer("layout", {**layout, "groups": [["a", -1, "module"]]})
    assert "finite" in check_answer("inspect", {**variable, "grad": {"min": float("inf")}})
    assert "first" in check_answer("inspect", {"done": True})
    assert "not list" in check_answer("inspect", [])
    assert "no question" in check_answer("run", {})
