"""Forward recording: steps in order, lines and spans, nodes owned by exactly one step."""

import textwrap

import torch

from conftest import saved_values, trace_doc


def code(text: str) -> str:
    return "import torch\n" + textwrap.dedent(text).lstrip("\n")


def test_steps_have_op_line_span_and_grad_mode():
    doc = trace_doc(code("""
        x = torch.tensor(3.0, requires_grad=True)
        y = x * 2 + 1
        with torch.no_grad():
            z = x * 5
    """))
    ops = [(s["op"], s["line"], s["span"], s["grad_mode"]) for s in doc["steps"]]
    assert ops == [
        ("tensor", 2, "torch.tensor(3.0, requires_grad=True)", "grad"),
        ("mul", 3, "x * 2", "grad"),
        ("add", 3, "x * 2 + 1", "grad"),
        ("mul", 5, "x * 5", "no_grad"),
    ]
    mul = doc["steps"][1]
    assert mul["values"][0]["values"] == [6.0]
    assert mul["inputs"] == doc["steps"][0]["outputs"]


def test_every_node_belongs_to_exactly_one_step_for_composites():
    doc = trace_doc(code("""
        import torch.nn.functional as F
        x = torch.randn(3, 4, requires_grad=True)
        y = F.normalize(x, dim=1)
        loss = y.sum()
    """))
    owners = {}
    for step in doc["steps"]:
        for node_id in step["nodes"]:
            assert node_id not in owners, "a node was claimed by two steps"
            owners[node_id] = step["index"]
    forward_nodes = [n for n in doc["graph"]["nodes"] if n["pass"] is None]
    assert {n["id"] for n in forward_nodes} == set(owners)
    normalize = next(s for s in doc["steps"] if s["op"] == "normalize")
    assert len(normalize["nodes"]) >= 3  # norm, clamp, expand, div ... all in one step
    names = {n["name"] for n in doc["graph"]["nodes"] if n["id"] in normalize["nodes"]}
    assert "DivBackward0" in names


def test_custom_function_is_one_step_named_after_its_class():
    doc = trace_doc(code("""
        class Square(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x.mul(x).add(0)
            @staticmethod
            def backward(ctx, g):
                x, = ctx.saved_tensors
                return 2 * x * g
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = Square.apply(x)
        y.sum().backward()
    """))
    ops = [s["op"] for s in doc["steps"]]
    assert ops == ["tensor", "Square", "sum"]
    step = doc["steps"][1]
    assert step["kind"] == "function" and step["line"] == 12
    node = next(n for n in doc["graph"]["nodes"]
                if n["id"] in step["nodes"] and n["kind"] == "function")
    assert node["name"] == "Square"
    assert saved_values(doc, node) == {"saved_tensors[0]": [1.0, 2.0]}


def test_module_paths():
    doc = trace_doc(code("""
        net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
        out = net(torch.ones(2, 3)).sum()
        out.backward()
    """))
    by_op = {s["op"]: s["module"] for s in doc["steps"] if s["op"] in ("linear", "relu", "sum")}
    assert by_op["relu"] == "net.1"
    assert by_op["sum"] is None
    linear_modules = [s["module"] for s in doc["steps"] if s["op"] == "linear"]
    assert linear_modules == ["net.0", "net.2"]
    nodes = {n["module"] for n in doc["graph"]["nodes"] if n["name"] == "AddmmBackward0"}
    assert nodes == {"net.0", "net.2"}
    names = [v["name"] for v in doc["variables"]]
    assert "net.0.weight" in names and "net.2.bias" in names


def test_graph_cuts_are_timeline_events():
    doc = trace_doc(code("""
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        a = y.detach()
        b = y.data
        c = y.sum().item()
        d = y.tolist()
        e = float(y[0])
        f = torch.tensor(c)
    """))
    cuts = [(s["cut"], s["line"]) for s in doc["steps"] if s["kind"] == "cut"]
    assert cuts == [("tensor", 2), ("detach", 4), ("data", 5), ("item", 6), ("tolist", 7),
                    ("float", 8), ("tensor", 9)]
    item = next(s for s in doc["steps"] if s.get("cut") == "item")
    assert item["python_value"] == 9.0
    rebuilt = doc["steps"][-1]
    assert rebuilt["from_cut"] == item["index"]  # the number came back from .item()


def test_numpy_cut():
    doc = trace_doc(code("""
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        n = (x * 2).detach().numpy()
        m = torch.ones(2).numpy()
    """))
    cuts = [s["cut"] for s in doc["steps"] if s["kind"] == "cut"]
    assert cuts == ["tensor", "detach"]  # numpy() of a tensor outside any graph cuts nothing


def test_inplace_and_setitem_steps_own_their_nodes():
    doc = trace_doc(code("""
        x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
        y = x * 1
        y[y < 0] = 0
        y.add_(1)
        y.sum().backward()
    """))
    ops = [s["op"] for s in doc["steps"]]
    assert "setitem" in ops and "add_" in ops
    setitem = next(s for s in doc["steps"] if s["op"] == "setitem")
    names = [n["name"] for n in doc["graph"]["nodes"] if n["id"] in setitem["nodes"]]
    assert any(name.startswith(("IndexPutBackward", "CopySlices", "MaskedFill")) for name in names)
    assert doc["variables"][0]["grad"]["values"] == [1.0, 0.0, 1.0]


def test_unnamed_intermediates_are_labelled_by_source():
    doc = trace_doc(code("""
        x = torch.tensor(2.0, requires_grad=True)
        loss = (x * 3).exp()
    """))
    labels = {n["name"]: n["label"] for n in doc["graph"]["nodes"]}
    assert labels["MulBackward0"] == "x * 3"
    assert labels["ExpBackward0"] == "loss"
    assert labels["AccumulateGrad"] == "x"


def test_edges_carry_slots_and_accumulate_grad():
    doc = trace_doc(code("""
        a = torch.tensor(2.0, requires_grad=True)
        b = torch.tensor(3.0, requires_grad=True)
        c = a * b
    """))
    nodes = {n["id"]: n for n in doc["graph"]["nodes"]}
    mul = next(n for n in nodes.values() if n["name"] == "MulBackward0")
    into_mul = sorted((e["slot"], nodes[e["src"]]["label"]) for e in doc["graph"]["edges"]
                      if e["dst"] == mul["id"])
    assert into_mul == [(0, "a"), (1, "b")]
    ref = (torch.tensor(2.0, requires_grad=True) * torch.tensor(3.0, requires_grad=True)).grad_fn
    assert [type(f).__name__ for f, _ in ref.next_functions] == ["AccumulateGrad"] * 2


def test_hundred_thousand_node_chain():
    doc = trace_doc(code("""
        x = torch.tensor(1.0, requires_grad=True)
        y = x
        for _ in range(100_000):
            y = y * 1.0
        y.backward()
    """))
    assert doc["error"] is None
    assert len(doc["graph"]["nodes"]) == 100_001
    assert len(doc["passes"][0]["steps"]) == 100_001
    assert doc["variables"][0]["grad"]["values"] == [1.0]
    xs = {n["x"] for n in doc["graph"]["nodes"]}
    assert len(xs) == 100_001  # a chain lays out as 100,001 layers


def test_a_leaf_made_inside_a_chain_of_calls_is_named_by_its_own_call():
    # The classic non-leaf case: w is the .to() copy, the leaf is randn's result. Its box must
    # not read as w (the Problems panel says w is no leaf).
    doc = trace_doc("import torch\nw = torch.randn(3, requires_grad=True).to(torch.float64)\n"
                    "w.sum().backward()\nv = torch.zeros(2).requires_grad_()\n"
                    "(v * 2).sum().backward()\n")
    leaves = {n["label"]: n for n in doc["graph"]["nodes"] if n["kind"] == "leaf"}
    assert set(leaves) == {"torch.randn(3, requires_grad=True)", "v"}
    assert leaves["torch.randn(3, requires_grad=True)"]["span"] == (
        "torch.randn(3, requires_grad=True)")
    assert leaves["v"]["line"] == 4 and leaves["v"]["span"] == "torch.zeros(2).requires_grad_()"
