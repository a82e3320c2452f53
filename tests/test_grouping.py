"""Groups (grouping.py) and the page's view layouts (views.py): modules collapse into one cell,
a chain-building loop folds, identical blocks are found, and a graph opens with at most about
40 boxes. Real traces, laid out as the server does for the page."""

import gc
import time

import pytest
from models import CNN, GAN, GPT, LSTM_CELL, MLP, PLAIN_LIST, RESNET, RNN, TRANSFORMER

from conftest import trace_doc
from gradtrace.drawing.grouping import OPENING_BOXES, LayoutStopped
from gradtrace.drawing.views import request_problem, view_layout
from gradtrace.trace import jsonio
from gradtrace.trace.protocol import Edge, Node
from gradtrace.trace.wire import graph_wire


def wire_of(doc: dict) -> dict:
    """The graph event's columns for a document's graph, as the worker sends them."""
    nodes = [Node(id=n["id"], kind=n["kind"], name=n["name"], op=n["op"], line=n["line"],
                  span=n["span"], module=n["module"], step=n["step"], pass_=n["pass"],
                  label=n["label"], layer=n["layer"], row=n["row"], values=n["values"])
             for n in doc["graph"]["nodes"]]

    class E:
        def __init__(self, e):
            self.__dict__.update(e)

    return graph_wire(nodes, [E(e) for e in doc["graph"]["edges"]], (), doc["graph"]["modules"])


def shown(reply: dict) -> tuple[list[int], list[str]]:
    """The nodes and the collapsed groups a view shows."""
    groups = reply["groups"]
    hidden = {k for k, g in enumerate(groups) if g[4]}
    nodes = [k for k, g in enumerate(reply["group"]) if g < 0 or g not in hidden]
    boxes = [g[0] for g in groups if g[4] and (g[1] < 0 or not groups[g[1]][4])]
    return nodes, boxes


def places(reply: dict, boxes: list[str]) -> set:
    nodes, _ = shown(reply)
    cells = {(reply["layer"][k], reply["row"][k]) for k in nodes}
    return cells


def test_a_small_mlp_opens_fully_expanded_with_its_classes():
    doc = trace_doc(MLP)
    assert doc["graph"]["modules"] == {"net": "Sequential", "net.0": "Linear", "net.1": "ReLU",
                                       "net.2": "Linear"}
    reply = view_layout(wire_of(doc), None)
    assert not any(g[4] for g in reply["groups"])
    nodes, _ = shown(reply)
    assert len(nodes) == len(doc["graph"]["nodes"])


def test_a_graph_too_wide_for_the_page_opens_a_level_higher():
    wire = wire_of(trace_doc(CNN))
    whole = view_layout(wire, None)
    assert not shown(whole)[1] and max(whole["layer"]) + 1 > 9  # all open: 13 layers
    fitted = view_layout(wire, None, layers=9)
    assert shown(fitted)[1] == ["net.conv1", "net.conv2", "net.fc"]
    assert max(fitted["layer"]) + 1 <= 9
    # nothing fits: still not the root alone (one box, "net", says nothing): the page pans
    narrow = view_layout(wire, None, layers=2)
    assert shown(narrow)[1] == ["net.conv1", "net.conv2", "net.fc"]


def test_the_transformer_opens_at_its_six_layers_marked_identical():
    doc = trace_doc(TRANSFORMER)
    wire = wire_of(doc)
    reply = view_layout(wire, None)
    nodes, boxes = shown(reply)
    assert len(nodes) + len(boxes) <= OPENING_BOXES
    layers = [f"encoder.layers.{k}" for k in range(6)]
    assert boxes == layers
    by_path = {g[0]: g for g in reply["groups"]}
    assert all(by_path[p][3] == "TransformerEncoderLayer" and by_path[p][5] == 6 for p in layers)
    # each collapsed layer is one cell, and no two things shown share one
    cells = [(reply["layer"][k], reply["row"][k]) for k in nodes]
    hidden_cells = {}
    for k, g in enumerate(reply["group"]):
        path = reply["groups"][g][0] if g >= 0 else ""
        top = next((p for p in layers if path == p or path.startswith(p + ".")), None)
        if top:
            hidden_cells.setdefault(top, set()).add((reply["layer"][k], reply["row"][k]))
    assert all(len(c) == 1 for c in hidden_cells.values())
    every = cells + [next(iter(c)) for c in hidden_cells.values()]
    assert len(every) == len(set(every))


def test_opening_a_group_lays_out_its_inside_and_closing_it_again_restores_the_view():
    wire = wire_of(trace_doc(TRANSFORMER))
    opening = view_layout(wire, None)
    _, boxes = shown(opening)
    opened = view_layout(wire, [b for b in boxes if b != "encoder.layers.2"])
    nodes, boxes_after = shown(opened)
    assert "encoder.layers.2" not in boxes_after and len(boxes_after) == 5
    inside = [k for k in nodes if opened["groups"][opened["group"][k]][0].startswith(
        "encoder.layers.2") if opened["group"][k] >= 0]
    assert len(inside) > 10
    again = view_layout(wire, boxes)
    assert again == opening


def test_an_rnn_folds_into_one_loop_box_of_windows():
    doc = trace_doc(RNN)
    reply = view_layout(wire_of(doc), None)
    nodes, boxes = shown(reply)
    assert boxes == ["loop:6"] and len(nodes) < 10
    fold = next(g for g in reply["groups"] if g[0] == "loop:6")
    assert fold[2] == "fold" and fold[3] == "loop at line 6 ×1000"
    windows = [g for g in reply["groups"] if g[0].startswith("loop:6.")]
    assert len(windows) == 100 and windows[0][3] == "iterations 0–9"
    assert all(w[5] == 100 for w in windows)  # every window is the same ten iterations
    opened = view_layout(wire_of(doc), [])  # everything open: each window a box of its own
    assert not shown(opened)[1]


def test_a_training_loop_does_not_fold():
    doc = trace_doc("""import torch
w = torch.ones(3, requires_grad=True)
opt = torch.optim.SGD([w], lr=0.1)
for _ in range(5):
    opt.zero_grad()
    loss = (w * 2).sum()
    loss.backward()
    opt.step()
""")
    reply = view_layout(wire_of(doc), None)
    assert not any(g[2] == "fold" for g in reply["groups"])


def test_bad_layout_requests_get_a_clear_answer():
    assert request_problem(None)
    assert request_problem({"collapsed": "net"})
    assert request_problem({"collapsed": [1, 2]})
    assert request_problem({"collapsed": ["x" * 5000]})
    assert request_problem({"collapsed": None}) is None
    wire = wire_of(trace_doc(MLP))
    assert view_layout(wire, ["no.such.group"]) == view_layout(wire, [])


def test_generated_graphs_with_groups_collapsed_lay_out_forward_apart_and_the_same_each_time():
    """Random graphs in random modules, random groups collapsed: every edge between two things
    shown points forward, no two things shown share a cell (a box takes BOX_ROWS), and the same
    graph lays out the same way whatever order its nodes come in."""
    import random

    from gradtrace.drawing.layout import BOX_ROWS, layout

    rng = random.Random(7)
    paths = ["a", "a.x", "a.y", "a.y.z", "b", "b.x", None]
    for trial in range(40):
        count = rng.randint(5, 60)
        nodes = [Node(id=i, kind="leaf" if rng.random() < 0.2 else "op", name=f"N{i % 3}",
                      line=1 + i % 4, module=rng.choice(paths)) for i in range(count)]
        edges = [type("E", (), {"src": rng.randrange(d), "dst": d})() for d in range(1, count)
                 for _ in range(rng.randint(1, 2))]
        collapsed = {p for p in paths if p and rng.random() < 0.3}
        tree, cells = layout(nodes, edges, None, collapsed)
        place = {n.id: (n.layer, n.row) for n in nodes}
        shut = {}  # node -> its shown box
        for n in nodes:
            outer = next((g for g in tree.chains[n.id] if g in cells), None)
            if outer:
                shut[n.id] = outer
        taken = {}
        for n in nodes:
            if n.id not in shut:
                assert place[n.id] not in taken, (trial, n.id, taken.get(place[n.id]))
                taken[place[n.id]] = n.id
        for box, (layer, row) in cells.items():
            for k in range(BOX_ROWS):
                assert (layer, row + k) not in taken, (trial, box, taken.get((layer, row + k)))
                taken[(layer, row + k)] = box
        for e in edges:
            a, b = shut.get(e.src, e.src), shut.get(e.dst, e.dst)
            if a != b:
                assert place[e.src][0] < place[e.dst][0], (trial, e.src, e.dst)
        shuffled = nodes[:]
        rng.shuffle(shuffled)
        again = [Node(id=n.id, kind=n.kind, name=n.name, line=n.line, module=n.module)
                 for n in shuffled]
        layout(again, edges, None, collapsed)
        assert {n.id: (n.layer, n.row) for n in again} == place


def test_a_long_run_of_repeats_that_is_no_chain_is_passed_over_quickly():
    """`outs = [w * i for i in range(20000)]` repeats one op 20,000 times, no iteration feeding
    the next: looking for a fold there must not cost a pass per position (quadratic)."""
    import time
    from types import SimpleNamespace

    from gradtrace.drawing.grouping import Groups

    count = 20_000
    nodes = [SimpleNamespace(id=i, module=None, kind="op", name=f"Op{i % 200}", line=3)
             for i in range(count)]
    started = time.perf_counter()
    groups = Groups(nodes, [[] for _ in range(count)])
    assert time.perf_counter() - started < 2 and not groups.labels


def _ancestors(doc: dict, node_id: int) -> set[int]:
    inputs: dict = {}
    for e in doc["graph"]["edges"]:
        inputs.setdefault(e["dst"], []).append(e["src"])
    seen, stack = set(), [node_id]
    while stack:
        for src in inputs.get(stack.pop(), ()):
            if src not in seen:
                seen.add(src)
                stack.append(src)
    return seen


def test_a_module_called_three_times_is_three_boxes_each_wired_to_its_own_loss():
    doc = trace_doc(GAN)
    nodes = doc["graph"]["nodes"]
    calls = {"netD": "errD_real", "netD#2": "errD_fake", "netD#3": "errG"}
    for call, loss in calls.items():
        root = next(n["id"] for n in nodes if n["label"] == loss)
        fed_by = {nodes[i]["module"].split(".")[0] for i in _ancestors(doc, root)
                  if nodes[i]["module"] and nodes[i]["kind"] != "leaf"}
        assert fed_by & set(calls) == {call}, (loss, fed_by)
    assert doc["graph"]["modules"]["netD#2.0"] == "Linear"
    # The same weights feed all three calls: they sit outside them, not in the first.
    weights = next(n for n in nodes if n["label"] == "netD.0.weight")
    assert weights["module"] is None
    groups = {g[0]: g for g in view_layout(wire_of(doc), [])["groups"]}
    assert {"netD", "netD#2", "netD#3"} <= set(groups)


def test_a_cell_called_at_every_time_step_folds_into_windows_of_its_calls_in_order():
    doc = trace_doc(LSTM_CELL)
    reply = view_layout(wire_of(doc), None)
    groups = {g[0]: g for g in reply["groups"]}
    fold = groups["loop:cell"]
    assert fold[2] == "fold" and fold[3] == "cell ×20"
    windows = [g for g in reply["groups"] if g[1] == reply["groups"].index(fold)]
    assert [w[3] for w in windows] == ["calls 1–10", "calls 11–20"]
    first_window = reply["groups"].index(windows[0])
    assert [g[0] for g in reply["groups"] if g[1] == first_window] == (
        ["cell"] + [f"cell#{k}" for k in range(2, 11)])
    leaves = {n["label"] for n in doc["graph"]["nodes"] if n["kind"] == "leaf"}
    assert {"cell.weight_ih", "cell.weight_hh", "cell.bias_ih", "cell.bias_hh"} <= leaves


def test_layers_in_a_plain_list_are_named_by_where_they_live_and_fold():
    doc = trace_doc(PLAIN_LIST)
    leaves = sorted(n["label"] for n in doc["graph"]["nodes"] if n["kind"] == "leaf")
    assert leaves == sorted(f"layers[{k}].{p}" for k in range(6) for p in ("weight", "bias"))
    assert {v["name"] for v in doc["variables"]} >= {"layers[3].weight", "layers[5].bias"}
    reply = view_layout(wire_of(doc), None)
    fold = next(g for g in reply["groups"] if g[2] == "fold")
    assert fold[0] == "loop:layers[0]" and fold[3] == "layers ×6"


def test_identical_blocks_need_the_same_parameter_shapes():
    reply = view_layout(wire_of(trace_doc(CNN)), [])
    same = {g[0]: g[5] for g in reply["groups"]}
    assert same["net.conv1"] == same["net.conv2"] == 0  # Conv2d(1, 4) and Conv2d(4, 8)


NESTED = """import torch
from torch import nn
torch.manual_seed(0)

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.Sequential(nn.Linear(8, 8), nn.Tanh())
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8))

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(x)

class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.h = nn.ModuleList(Block() for _ in range(2))
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        for block in self.h:
            x = block(x)
        return self.head(x)

model = GPT()
model(torch.randn(3, 8)).pow(2).mean().backward()
"""


def test_a_resnet_opens_its_children_even_on_a_phone():
    wire = wire_of(trace_doc(RESNET))
    _, boxes = shown(view_layout(wire, None, layers=4))  # a phone's few legible layers
    assert "model" not in boxes and {"model.conv1", "model.layer1", "model.fc"} <= set(boxes)


def test_one_root_module_opens_its_children_and_a_click_opens_one_level():
    wire = wire_of(trace_doc(NESTED))
    opening = view_layout(wire, None, layers=4)  # a narrow page: still more than one box
    nodes, boxes = shown(opening)
    assert len(nodes) + len(boxes) >= 3 and "model" not in boxes
    opened = view_layout(wire, ["model.h.1", "model.head"], opened="model.h.0")
    _, boxes = shown(opened)
    assert "model.h.0.attn" in boxes and "model.h.0.mlp" in boxes  # its next level, shut


def test_a_gpt_opens_at_its_blocks_and_a_container_it_calls_piecemeal_frames_nothing():
    doc = trace_doc(GPT)
    memo: dict = {}
    reply = view_layout(wire_of(doc), None, memo=memo)
    nodes, boxes = shown(reply)
    assert 3 <= len(nodes) + len(boxes) <= OPENING_BOXES, (len(nodes), boxes)
    assert {"model.transformer.h.0.attn", "model.transformer.h.1.mlp"} <= set(boxes)
    # model.transformer (a ModuleDict) is never called: the model calls wte and wpe, adds, then
    # runs the blocks. As one block it would feed itself through the add: it frames nothing.
    assert memo["tree"].split == {"model.transformer"}
    assert "model.transformer" not in {g[0] for g in reply["groups"]}
    narrow = view_layout(wire_of(doc), None, layers=9)
    nodes, boxes = shown(narrow)
    assert "model.transformer.h" in boxes and len(nodes) + len(boxes) >= 3


def test_an_identical_mark_counts_only_siblings():
    # the GPT's final LayerNorm is alike inside to each block's ln_1 and ln_2, but alone where
    # it stands: a "×5" there would read as "this layer five times"
    reply = view_layout(wire_of(trace_doc(GPT)), [])
    same = {g[0]: g[5] for g in reply["groups"]}
    assert same["model.transformer.ln_f"] == 0
    assert same["model.transformer.h.0"] == same["model.transformer.h.1"] == 2
    assert same["model.transformer.h.0.ln_1"] == same["model.transformer.h.0.ln_2"] == 2


def forged_chain(count: int, module) -> dict:
    """The wire of a chain of ``count`` nodes, node i in module ``module(i)``: what a hostile
    worker could send (the server lays out whatever graph a run sent)."""
    nodes = [Node(i, "op", "MulBackward0", "mul", 1, "", module(i)) for i in range(count)]
    edges = [Edge(i + 1, i, 0, 0) for i in range(count - 1)]
    return jsonio.loads(jsonio.dumps(graph_wire(nodes, edges)))


@pytest.mark.parametrize("module", [
    lambda i: ".".join(["m"] * (i % 500 + 1)),  # nested 500 deep, and back out again
    lambda i: f"g{i % 97}." + ".".join(["m"] * (i % 40)),  # 97 modules called in turn, deep
], ids=["nested 500 deep", "interleaved"])
def test_a_forged_graph_is_laid_out_in_time_linear_in_its_size(module):
    # a forged 40k-node graph cost 26 s of server CPU a layout request: each group that had to
    # be split started the layout again, and each start walked every group's ancestors
    small, big = forged_chain(1000, module), forged_chain(4000, module)
    times = []
    gc.disable()  # the algorithm, not this test process's collector passes over its whole heap
    try:
        for wire in (small, big):
            started = time.perf_counter()
            reply = view_layout(wire, [])
            times.append(time.perf_counter() - started)
            assert len(reply["ids"]) == len(wire["nodes"]["id"])
    finally:
        gc.enable()
    assert times[1] < 4.0 and times[1] < 8 * times[0] + 0.5, times  # 4x the nodes (0.4 s here)


def test_a_layout_stops_at_the_next_group_once_nobody_waits_for_it():
    wire = forged_chain(40_000, lambda i: ".".join(["m"] * (i % 500 + 1)))  # 6 s of work here
    asked = []

    def stop() -> bool:  # the client leaves by the 50th group
        asked.append(time.perf_counter())
        return len(asked) == 50

    with pytest.raises(LayoutStopped):
        view_layout(wire, [], stop=stop)
    assert len(asked) == 50  # asked at each group, and stopped at once
