"""The layered layout: data flows left to right, nodes never share a position, and it is
deterministic."""

from conftest import EXAMPLES, example_paths, trace_doc
from gradtrace.drawing.layout import layout
from gradtrace.trace.protocol import Edge, Node


def _check(doc):
    nodes = {n["id"]: n for n in doc["graph"]["nodes"]}
    for e in doc["graph"]["edges"]:
        assert nodes[e["src"]]["x"] < nodes[e["dst"]]["x"], "an edge points backwards"
    positions = [(n["x"], n["y"]) for n in nodes.values()]
    assert len(positions) == len(set(positions)), "two nodes share a position"


def test_every_example_lays_out_forward_without_overlaps():
    for path in example_paths():
        _check(trace_doc(path.read_text()))


def test_loss_is_rightmost_and_each_leaf_sits_just_before_its_first_use():
    doc = trace_doc((EXAMPLES / "basics/wx_plus_b_loss.py").read_text())
    nodes = {n["label"]: n for n in doc["graph"]["nodes"]}
    loss = max(nodes.values(), key=lambda n: n["x"])
    assert loss["label"] == "loss" and loss["kind"] == "output"
    assert nodes["w"]["layer"] == nodes["x"]["layer"] == 0  # w * x
    assert nodes["b"]["layer"] == nodes["y"]["layer"] - 1  # + b, one layer later


def test_a_parameter_and_its_transpose_sit_beside_the_linear_that_uses_them():
    doc = trace_doc("import torch\n"
                    "net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),\n"
                    "                          torch.nn.Linear(4, 1))\n"
                    "net(torch.ones(2, 3)).sum().backward()\n")
    nodes = doc["graph"]["nodes"]
    linear = next(n for n in nodes if n["name"] == "AddmmBackward0" and n["module"] == "net.2")
    weight = next(n for n in nodes if n["label"] == "net.2.weight")
    bias = next(n for n in nodes if n["label"] == "net.2.bias")
    transpose = next(n for n in nodes if n["name"] == "TBackward0" and n["module"] == "net.2")
    assert bias["layer"] == transpose["layer"] == linear["layer"] - 1
    assert weight["layer"] == linear["layer"] - 2
    relu = next(n for n in nodes if n["name"] == "ReluBackward0")
    assert relu["layer"] < weight["layer"] and relu["row"] == linear["row"]  # net.1, then net.2


def test_layout_is_deterministic_whatever_the_input_order():
    def build(order):
        nodes = [Node(id=i, kind="op", name="N") for i in order]
        edges = [Edge(0, 2, 0, 0), Edge(1, 2, 1, 0), Edge(2, 3, 0, 0), Edge(1, 3, 1, 0)]
        layout(nodes, edges)
        return {n.id: (n.x, n.y) for n in nodes}

    assert build([0, 1, 2, 3]) == build([3, 1, 0, 2])


def test_layers_are_the_topological_generations_networkx_finds():
    """networkx is the oracle for the layering: generation k is layer k, except that a side
    input (a source, or a one-input node fed by one) sits just before its first consumer."""
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
    side: set = set()
    for n in nx.topological_sort(graph):
        preds = list(graph.predecessors(n))
        if not preds or (len(preds) == 1 and preds[0] in side):
            side.add(n)
    for n in reversed(list(nx.topological_sort(graph))):
        if n in side and graph.out_degree(n):
            expected[n] = min(expected[c] for c in graph.successors(n)) - 1
    assert side and {n.id: n.layer for n in nodes} == expected
    for n in nodes:
        assert n.x == n.layer * 160.0 and n.y == n.row * 70.0


def _module_graph(seed: int, per_run: int = 12):
    """A random forward graph whose nodes belong to nested modules, each called once, as a
    model's are: a run of nodes per module, in call order, inner modules within their outer
    one's calls, and some nodes in none."""
    import random

    rng = random.Random(seed)
    calls = [None, "net.0", "net.0.attn", "net.0", "net.0.mlp", "net.1", "net.1.attn",
             "net.1.mlp", None, "head", "head.proj", None]
    nodes = []
    for module in calls:
        for _ in range(rng.randrange(2, per_run)):
            nodes.append(Node(id=len(nodes), kind="op", name="N", module=module))
    count = len(nodes)
    edges = [Edge(max(i - rng.randrange(1, 4), 0), i, 0, 0) for i in range(1, count)]
    edges += [Edge(rng.randrange(i), i, 1, 0) for i in range(1, count, 5)]
    return nodes, edges


def test_modules_lie_in_rectangles_that_hold_nothing_else():
    for seed in range(8):
        nodes, edges = _module_graph(seed)
        layout(nodes, edges)
        by_id = {n.id: n for n in nodes}
        for e in edges:
            assert by_id[e.src].layer < by_id[e.dst].layer, "an edge points backwards"
        assert len({(n.layer, n.row) for n in nodes}) == len(nodes), "two nodes share a spot"
        inside: dict = {}
        for n in nodes:
            parts = n.module.split(".") if n.module else []
            for k in range(1, len(parts) + 1):
                inside.setdefault(".".join(parts[:k]), []).append(n)
        for path, members in inside.items():
            box = (min(n.layer for n in members), max(n.layer for n in members),
                   min(n.row for n in members), max(n.row for n in members))
            strangers = [n for n in nodes if n not in members
                         and box[0] <= n.layer <= box[1] and box[2] <= n.row <= box[3]]
            assert not strangers, (seed, path, strangers[:3])


def test_on_random_module_trees_each_block_starts_where_networkx_longest_paths_put_it():
    """The layering rule, inside every module and at the top: an item (a node, or a child module
    as one block as many layers wide as its inside) starts at the longest path to it, each step
    as long as the block it leaves, as networkx measures that path in the items' graph. Side
    inputs (sources, and one-input chains off them) are moved to just before their consumer."""
    import networkx as nx

    def chain(n) -> list[str]:
        return n.module.split(".") if n.module else []

    for seed in range(8):
        nodes, edges = _module_graph(seed, per_run=8)
        layout(nodes, edges)
        groups = {tuple(chain(n)[:k]) for n in nodes for k in range(len(chain(n)) + 1)}
        for group in groups:  # () is the top level
            depth = len(group)
            item = {n.id: (tuple(chain(n)[:depth + 1]) if len(chain(n)) > depth else n.id)
                    for n in nodes if tuple(chain(n)[:depth]) == group}
            extent: dict = {}  # item -> its first and last layer
            for n in nodes:
                if n.id in item:
                    lo, hi = extent.get(item[n.id], (n.layer, n.layer))
                    extent[item[n.id]] = (min(lo, n.layer), max(hi, n.layer))
            items = nx.DiGraph()
            items.add_nodes_from(extent)
            for e in edges:
                a, b = item.get(e.src), item.get(e.dst)
                if a is not None and b is not None and a != b:
                    items.add_edge(a, b, weight=extent[a][1] - extent[a][0] + 1)
            side: set = set()
            for it in nx.topological_sort(items):
                ins = list(items.predecessors(it))
                if type(it) is int and (not ins or (len(ins) == 1 and ins[0] in side)):
                    side.add(it)
            base = min(lo for lo, _ in extent.values())
            for it in items:
                if it not in side:
                    before = items.subgraph(nx.ancestors(items, it) | {it})
                    longest = nx.dag_longest_path_length(before, weight="weight")
                    assert extent[it][0] - base == longest, (seed, group, it)


def test_a_module_called_around_another_is_dissolved_not_looped():
    """lin(relu(lin(x))): at the top level lin -> relu -> lin is a cycle between blocks."""
    nodes = [Node(id=0, kind="leaf", name="A", module="lin"),
             Node(id=1, kind="op", name="Addmm", module="lin"),
             Node(id=2, kind="op", name="Relu", module=None),
             Node(id=3, kind="op", name="Addmm", module="lin"),
             Node(id=4, kind="output", name="Sum", module=None)]
    edges = [Edge(0, 1, 0, 0), Edge(1, 2, 0, 0), Edge(2, 3, 0, 0), Edge(0, 3, 1, 0),
             Edge(3, 4, 0, 0)]
    layout(nodes, edges)
    assert [n.layer for n in nodes] == [0, 1, 2, 3, 4]


def test_layout_with_modules_is_deterministic():
    first, edges = _module_graph(1)
    layout(first, edges)
    again, edges_again = _module_graph(1)
    layout(list(reversed(again)), list(reversed(edges_again)))
    assert [(n.layer, n.row) for n in first] == [(n.layer, n.row) for n in again]


def test_the_autograd_tutorials_matmul_runs_into_the_add_in_line_not_past_b():
    # The official tutorial: z = torch.matmul(x, w) + b. The page folds the squeeze away, so the
    # matmul's edge into the add crosses the squeeze's layer: b must not sit in its way.
    doc = trace_doc("import torch\nx = torch.ones(5)\ny = torch.zeros(3)\n"
                    "w = torch.randn(5, 3, requires_grad=True)\n"
                    "b = torch.randn(3, requires_grad=True)\nz = torch.matmul(x, w) + b\n"
                    "loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)\n"
                    "loss.backward()\n")
    at = {n["name"]: (n["layer"], n["row"]) for n in doc["graph"]["nodes"]}
    assert at["MmBackward0"][1] == at["SqueezeBackward4"][1] == at["AddBackward0"][1]
    leaf_b = next(n for n in doc["graph"]["nodes"] if n["label"] == "b")
    assert leaf_b["row"] != at["AddBackward0"][1]
