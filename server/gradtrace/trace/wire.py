"""The compact forms of the document's big parts, as the live stream carries them.

The graph, the forward steps and each pass's backward steps travel as columns (one list per
field) with their strings interned, and usual tensor summaries as lists instead of objects. Each
``*_wire`` function has an inverse ``*_from_wire`` that gives back the document's shape
(protocol.rebuild uses them; static/js/protocol.js mirrors them). The inverses check what they
read and raise WireError, since the server reads them from an untrusted worker.
"""

from __future__ import annotations

from gradtrace.drawing.layout import LAYER_GAP, ROW_GAP

# A summary with exactly these fields (and optionally `values`) is sent as a list in this order,
# `values` last; any other summary (an error, a histogram, a sparse layout) stays an object. The
# server relays a summary whose values it kept (kept.py) with `preview` and `kept` instead.
SUMMARY_FIELDS = ("shape", "dtype", "device", "numel", "min", "max", "mean", "norm", "nan", "inf")
_PLAIN = frozenset(SUMMARY_FIELDS)
_LISTED = _PLAIN | {"values"}

GRAPH_STRINGS = ("kind", "name", "op", "span", "module", "label")
EDGE_FIELDS = ("src", "dst", "slot", "output_nr")
STEP_STRINGS = ("kind", "op", "span", "grad_mode", "module")
STEP_FIELDS = ("index", "line", "inputs", "outputs", "nodes", "values", "detail") + STEP_STRINGS
BACKWARD_STRINGS = ("kind",)
BACKWARD_FIELDS = ("order", "node", "grad_in", "grad_out", "detail") + BACKWARD_STRINGS
GRAPH_FIELDS = ("id", "line", "step", "pass", "layer", "row", "values", "saved") + GRAPH_STRINGS
# The columns a graph may send as a tail after the graph before it (graph_delta); the string
# columns always go whole, since each event interns its strings afresh.
GRAPH_TAILS = GRAPH_FIELDS[:8]


class WireError(ValueError):
    """A compact form that does not decode: columns of unequal length, a string index that names
    no string, a malformed summary."""


class Strings:
    """Interned strings: each distinct string is sent once, and referred to by its index."""

    def __init__(self):
        self.index: dict[str, int] = {}

    def column(self, values) -> list:
        """Each value's index (None stays None); a graph's string columns hold 300k items."""
        index = self.index
        return [None if v is None else index.setdefault(v, len(index)) for v in values]

    def to_list(self) -> list[str]:
        return list(self.index)


def summary_wire(summary):
    keys = summary.keys() if type(summary) is dict else None
    if keys is None or not (keys == _PLAIN or keys == _LISTED):
        return summary
    out = [summary[k] for k in SUMMARY_FIELDS]
    if "values" in summary:
        out.append(summary["values"])
    return out


def summaries_wire(summaries) -> list:
    return [summary_wire(s) for s in summaries]


def summary_from_wire(value):
    """A summary list as the document's object. 12 items: the server kept its values (kept.py)
    and sent their preview (or null) and the id to ask for them by instead."""
    if type(value) is not list:
        return value
    if len(value) not in (10, 11, 12):
        raise WireError(f"a summary list has {len(value)} items, not 10, 11 or 12")
    out = dict(zip(SUMMARY_FIELDS, value, strict=False))
    if len(value) == 11:
        out["values"] = value[10]
    elif len(value) == 12:
        if value[10] is not None:
            out["preview"] = value[10]
        out["kept"] = value[11]
    return out


def _summaries_from_wire(value) -> list:
    if type(value) is not list:
        raise WireError("summaries are not a list")
    return [summary_from_wire(s) for s in value]


# -- the graph -------------------------------------------------------------------------------------

def graph_wire(nodes, edges, steps=(), modules=None) -> dict:
    """The graph as columns. A node's value that is the very summary of a step's output (the
    step that made the node) goes as ``[step index, output position]`` instead of again: the
    page has the steps already. ``steps`` are the steps the receiver holds (the kept ones).
    ``modules`` (path -> class name) goes as string indices, path then class."""
    made = {id(v): [s.index, k] for s in steps for k, v in enumerate(s.values) if v is not None}
    strings = Strings()
    columns = {
        "id": [n.id for n in nodes], "line": [n.line for n in nodes],
        "step": [n.step for n in nodes], "pass": [n.pass_ for n in nodes],
        "layer": [n.layer for n in nodes], "row": [n.row for n in nodes],
        **{key: strings.column([getattr(n, key) for n in nodes]) for key in GRAPH_STRINGS},
        "values": [[made.get(id(v)) or summary_wire(v) for v in n.values] for n in nodes],
        "saved": [n.saved for n in nodes],
    }
    flat = [x for e in edges for x in (e.src, e.dst, e.slot, e.output_nr)]
    classes = strings.column([x for pair in (modules or {}).items() for x in pair])
    return {"strings": strings.to_list(), "nodes": columns, "edges": flat, "modules": classes}


def _node_values(values, step_values) -> list:
    """A node's values: summaries, and [step, output] references resolved against the steps
    received (a reference to no such step is a value not known: null)."""
    if type(values) is not list:
        raise WireError("a node's values are not a list")
    out = []
    for v in values:
        if type(v) is list and len(v) == 2:
            found = step_values.get(v[0])
            out.append(found[v[1]] if found is not None and type(v[1]) is int
                       and 0 <= v[1] < len(found) else None)
        else:
            out.append(summary_from_wire(v))
    return out


def _saved_entry(entry):
    """A saved entry; a bare name is one whose value the server kept (kept.py)."""
    return {"name": entry, "kept": True} if type(entry) is str else entry


def graph_from_wire(wire: dict, steps=()) -> dict:
    """graph_wire's columns as the document's graph: a list of node objects and of edges.
    ``steps``: the document's steps so far, which value references point into."""
    cols = _columns(wire, "nodes", GRAPH_FIELDS, GRAPH_STRINGS)
    step_values = {s["index"]: s["values"] for s in steps}
    nodes = []
    for i, node_id in enumerate(cols["id"]):
        layer, row = cols["layer"][i], cols["row"][i]
        node = {
            "id": node_id, "kind": cols["kind"][i], "name": cols["name"][i],
            "op": cols["op"][i], "line": cols["line"][i], "span": cols["span"][i],
            "x": layer * LAYER_GAP, "y": row * ROW_GAP, "layer": layer, "row": row,
            "module": cols["module"][i], "step": cols["step"][i], "pass": cols["pass"][i],
            "label": cols["label"][i], "values": _node_values(cols["values"][i], step_values),
        }
        if cols["saved"][i] is not None:
            node["saved"] = [_saved_entry(e) for e in cols["saved"][i]]
        nodes.append(node)
    flat = wire["edges"]
    if type(flat) is not list or len(flat) % 4:
        raise WireError("edges are not groups of 4 numbers")
    edges = [dict(zip(EDGE_FIELDS, flat[k:k + 4], strict=True)) for k in range(0, len(flat), 4)]
    return {"nodes": nodes, "edges": edges, "modules": modules_from_wire(wire)}


def modules_from_wire(wire: dict) -> dict[str, str]:
    """A graph's module path -> class name."""
    flat = wire.get("modules") or []
    if type(flat) is not list or len(flat) % 2:
        raise WireError("modules are not pairs of string indices")
    strings = wire.get("strings")
    named = [_string(strings, i) for i in flat]
    return dict(zip(named[::2], named[1::2], strict=True))


def graph_delta(previous: dict | None, wire: dict) -> dict:
    """``wire`` less what the graph ``previous`` (whole) already said. The graph only grows, so a
    column whose first entries are the previous graph's goes as the entries after them, and so
    do the edges; ``base`` says where the tails start and which columns are tails. A page gets
    the graph before the first pass and again at the end: the second costs little."""
    if previous is None:
        return wire
    count = len(previous["nodes"]["id"])
    columns = wire["nodes"]
    tails = [k for k in GRAPH_TAILS
             if len(columns[k]) >= count and columns[k][:count] == previous["nodes"][k]]
    edges = len(previous["edges"])
    if wire["edges"][:edges] != previous["edges"]:
        edges = 0
    if not tails and not edges:
        return wire
    return {**wire, "nodes": {k: v[count:] if k in tails else v for k, v in columns.items()},
            "edges": wire["edges"][edges:], "base": {"nodes": count, "edges": edges,
                                                      "tails": tails}}


def graph_merged(previous: dict | None, wire: dict) -> dict:
    """graph_delta's inverse: the whole graph, from the previous whole one and a delta."""
    base = wire.get("base")
    if base is None:
        return wire
    if previous is None:
        raise WireError("is a graph's difference from a graph that was never sent")
    if (type(base) is not dict or type(base.get("tails")) is not list
            or not set(base["tails"]) <= set(GRAPH_TAILS)):
        raise WireError("has a base that is not {nodes, edges, tails}")
    count, edges = base.get("nodes"), base.get("edges")
    if not (type(count) is int and 0 <= count <= len(previous["nodes"]["id"])
            and type(edges) is int and 0 <= edges <= len(previous["edges"]) and edges % 4 == 0):
        raise WireError("has a base past the graph before it")
    columns = dict(wire["nodes"])
    for key in base["tails"]:
        if type(columns.get(key)) is not list:
            raise WireError(f"has no column {key!r}")
        columns[key] = previous["nodes"][key][:count] + columns[key]
    if type(wire.get("edges")) is not list:
        raise WireError("has no list of edges")
    return {"strings": wire.get("strings"), "nodes": columns,
            "edges": previous["edges"][:edges] + wire["edges"], "modules": wire.get("modules")}


# -- forward steps ---------------------------------------------------------------------------------

def steps_wire(steps) -> dict:
    """Forward steps (protocol.Step) as columns; a step's kind-specific fields are its detail."""
    strings = Strings()
    columns = {
        **{key: strings.column([getattr(s, key) for s in steps]) for key in STEP_STRINGS},
        "index": [s.index for s in steps], "line": [s.line for s in steps],
        "inputs": [s.inputs for s in steps], "outputs": [s.outputs for s in steps],
        "nodes": [s.nodes for s in steps], "values": [summaries_wire(s.values) for s in steps],
        "detail": [s.detail for s in steps],
    }
    return {"strings": strings.to_list(), "columns": columns}


def steps_from_wire(wire: dict) -> list[dict]:
    """steps_wire's columns as the document's step objects (Step.to_json's shape)."""
    cols = _columns(wire, "columns", STEP_FIELDS, STEP_STRINGS)
    steps = []
    for i, index in enumerate(cols["index"]):
        step = {"index": index, "kind": cols["kind"][i], "op": cols["op"][i],
                "line": cols["line"][i], "span": cols["span"][i],
                "grad_mode": cols["grad_mode"][i], "module": cols["module"][i],
                "inputs": cols["inputs"][i], "outputs": cols["outputs"][i],
                "values": _summaries_from_wire(cols["values"][i]), "nodes": cols["nodes"][i]}
        _add_detail(step, cols["detail"][i], STEP_OWN_KEYS)
        steps.append(step)
    return steps


# -- backward steps --------------------------------------------------------------------------------

def backward_steps_wire(steps) -> dict:
    """A pass's backward steps (protocol.BackwardStep) as columns. The gradient a node sends is
    the one its receiver gets, so each distinct summary goes once, in ``summaries``, and the
    ``grad_in`` and ``grad_out`` columns hold indices into it (or null)."""
    strings = Strings()
    table: dict[int, int] = {}  # id(summary) -> its index in `summaries`
    summaries: list = []

    def index_of(summary):
        if summary is None:
            return None
        found = table.get(id(summary))
        if found is None:
            found = table[id(summary)] = len(summaries)
            summaries.append(summary_wire(summary))
        return found

    columns = {
        "kind": strings.column(s.kind for s in steps), "order": [s.order for s in steps],
        "node": [s.node for s in steps],
        "grad_in": [[index_of(g) for g in s.grad_in] for s in steps],
        "grad_out": [[index_of(g) for g in s.grad_out] for s in steps],
        "detail": [_detail_wire(s.detail) for s in steps],
    }
    return {"strings": strings.to_list(), "columns": columns, "summaries": summaries}


def backward_steps_from_wire(wire: dict) -> list[dict]:
    cols = _columns(wire, "columns", BACKWARD_FIELDS, BACKWARD_STRINGS)
    table = wire.get("summaries")
    if type(table) is not list:
        raise WireError("has no list of summaries")
    summaries = [summary_from_wire(s) for s in table]

    def grads(indices) -> list:
        if type(indices) is not list:
            raise WireError("a step's gradients are not a list")
        return [None if i is None else _summary_at(summaries, i) for i in indices]

    steps = []
    for i, order in enumerate(cols["order"]):
        step = {"order": order, "kind": cols["kind"][i], "node": cols["node"][i],
                "grad_in": grads(cols["grad_in"][i]), "grad_out": grads(cols["grad_out"][i])}
        detail = cols["detail"][i]
        if type(detail) is dict:  # a leaf's gradient before and after, or a hook's fields
            detail = {k: summary_from_wire(v) if k.startswith("grad_") else v
                      for k, v in detail.items()}
        _add_detail(step, detail, BACKWARD_OWN_KEYS)
        steps.append(step)
    return steps


def _summary_at(summaries: list, i):
    if type(i) is not int or not 0 <= i < len(summaries):
        raise WireError(f"has a summary index {i!r} that names none of its {len(summaries)}")
    return summaries[i]


def _detail_wire(detail):
    if detail is None or "grad_before" not in detail:
        return detail
    return {k: summary_wire(v) if k.startswith("grad_") else v for k, v in detail.items()}


# -- shared ----------------------------------------------------------------------------------------

def _columns(wire, key: str, fields: tuple, string_keys: tuple) -> dict:
    """The columns of a wire object: every field, each a list of one length, string columns
    resolved."""
    if type(wire) is not dict or type(wire.get(key)) is not dict:
        raise WireError(f"has no {key!r} object")
    cols, strings = wire[key], wire.get("strings")
    if type(strings) is not list:
        raise WireError("has no list of strings")
    count = None
    for name in fields:
        column = cols.get(name)
        if type(column) is not list:
            raise WireError(f"has no column {name!r}")
        count = len(column) if count is None else count
        if len(column) != count:
            raise WireError(f"has a column {name!r} of {len(column)} items, not {count}")
    resolved = {name: cols[name] for name in fields}
    for name in string_keys:
        resolved[name] = [None if i is None else _string(strings, i) for i in cols[name]]
    return resolved


def _string(strings: list, i) -> str:
    if type(i) is not int or not 0 <= i < len(strings):
        raise WireError(f"has a string index {i!r} that names no string of its {len(strings)}")
    return strings[i]


# The fields a detail may not replace (a module hook's detail does replace the step's module).
STEP_OWN_KEYS = frozenset(STEP_FIELDS) - {"module", "detail"}
BACKWARD_OWN_KEYS = frozenset(BACKWARD_FIELDS) - {"detail"}


def detail_problem(detail, own_keys: frozenset) -> str | None:
    """Why a step's detail may not be merged into it, if it may not: it is not an object, or it
    would replace the step's own fields. untrusted.py checks this too, before any decoding."""
    if detail is None:
        return None
    if type(detail) is not dict:
        return "has a detail that is not an object"
    if not own_keys.isdisjoint(detail):
        return f"has a detail that replaces {sorted(own_keys & detail.keys())}"
    return None


def _add_detail(step: dict, detail, own_keys: frozenset) -> None:
    problem = detail_problem(detail, own_keys)
    if problem:
        raise WireError(problem)
    if detail is not None:
        step.update(detail)  # as Step.to_json and BackwardStep.to_json do
