"""The layered layout: data flows left to right, nodes never share a position, and it is
deterministic."""

from conftest import EXAMPLES, example_paths, trace_doc
from gradtrace.layout import layout
from gradtrace.protocol import Edge, Node


def _check(doc):
    nodes = {n["id"]: n for n in doc["graph"]["nodes"]}
    for e in doc["graph"]["edges"]:
        assert nodes[e["src"]]["x"] < nodes[e["dst"]]["x"], "an edge points backwards"
    positions = [(n["x"], n["y"]) for n in nodes.values()]
    assert len(positions) == len(set(positions)), "two nodes share a position"


def test_every_example_lays_out_forward_without_overlaps():
    for path in example_paths():
        _check(trace_doc(path.read_text()))


def test_loss_is_rightmost_and_leaves_leftmost():
    doc = trace_doc((EXAMPLES / "basics/wx_plus_b_loss.py").read_text())
    nodes = doc["graph"]["nodes"]
    loss = max(nodes, key=lambda n: n["x"])
    assert loss["label"] == "loss" and loss["kind"] == "output"
    assert {n["x"] for n in nodes if n["kind"] == "leaf"} == {0.0}


def test_layout_is_deterministic_whatever_the_input_order():
    def build(order):
        nodes = [Node(id=i, kind="op", name="N") for i in order]
        edges = [Edge(0, 2, 0, 0), Edge(1, 2, 1, 0), Edge(2, 3, 0, 0), Edge(1, 3, 1, 0)]
        layout(nodes, edges)
        return {n.id: (n.x, n.y) for n in nodes}

    assert build([0, 1, 2, 3]) == build([3, 1, 0, 2])


def test_layers_are_the_topological_generations_networkx_finds():
    """networkx is the oracle for the layering: generation k is layer k."""
    import random

    import networkx as nx

    rng = random.Random(0)
    count = 400
    nodes = [Node(id=i * 3, kind="op", name="N") for i in range(count)]  # ids need not be dense
    edges = [Edge(rng.randrange(i) * 3, i * 3, 0, 0) for i in range(1, count)]
    edges += [Edge(rng.randrange(i) * 3, i * 3, 1, 0) for i in range(1, count, 2)]
    layout(nodes, edges)
    graph = nx.DiGraph((e.src, e.dst) for e in edges)
    expected = {n: k for k, gen in enumerate(nx.topological_generations(graph)) for n in gen}
    assert {n.id: n.layer for n in nodes} == expected
    for n in nodes:
        assert n.x == n.layer * 160.0 and n.y == n.row * 70.0
