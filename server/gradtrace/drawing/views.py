"""The page's view of a run's graph: which groups (grouping.py) are collapsed, laid out on
request. The page asks `layout` with ``{collapsed: null}`` when a graph arrives (the opening
view: at most about 40 boxes), and with the paths it wants collapsed when the user opens or
closes a group. The reply lays out the whole graph afresh (layout.py), each collapsed group one
box; a group's inside is laid out only when it shows.

The page may say how many layers it can show legibly side by side (``layers``): then a graph
opens at the deepest level that fits them, or at its top level.

A group the user opens shows its next level: with ``opened`` (its path), the groups inside it
stay collapsed, so that one click never turns a deep model into a strip of hundreds of nodes.
A graph opens with at least 3 boxes where it has them: a model that is one root module shows
its children.

A loop's page shows one iteration at a time, and asks with ``nodes``, the ids of that iteration's
nodes: the reply lays out just those.

Reply: ``{nodes, ids, layer, row, group, groups}``. ``nodes`` is the number of nodes in the
graph (the page drops a reply for another graph); ``layer``, ``row`` and ``group`` are columns
for the nodes ``ids`` laid out, in the graph's order: where each node is (a hidden node: its
collapsed group's cell), and the index of the innermost group it is in (-1 for none).
``groups``: one ``[path, parent index, kind, label, collapsed, identical]`` per group, outer
groups first; kind is "module" or "fold" (a loop's fold or one of its windows), label the
module's class or the fold's text, identical how many groups beside it (one parent) share its
class and inside (0 when it is alone).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

from gradtrace.drawing.grouping import ROOT, first_readable, never, opening, opening_levels
from gradtrace.drawing.layout import layout
from gradtrace.trace.wire import EDGE_FIELDS, modules_from_wire

MAX_COLLAPSED = 100_000  # paths in one request
MAX_PATH = 1000  # characters in one path
MAX_NODES = 10_000_000  # ids in one request
MAX_LAYERS = 100_000


def request_problem(request) -> str | None:
    if not isinstance(request, dict) or "collapsed" not in request:
        return ("layout expects an object: {collapsed: null or a list of group paths, "
                "nodes: null or a list of node ids}")
    collapsed, only, opened = request["collapsed"], request.get("nodes"), request.get("opened")
    if opened is not None and (type(opened) is not str or len(opened) > MAX_PATH):
        return f"opened must be null or a group path of at most {MAX_PATH} characters"
    layers = request.get("layers")
    if layers is not None and not (type(layers) is int and 1 <= layers <= MAX_LAYERS):
        return f"layers must be null or a whole number from 1 to {MAX_LAYERS}"
    if collapsed is not None and (
            type(collapsed) is not list or len(collapsed) > MAX_COLLAPSED
            or not all(type(p) is str and len(p) <= MAX_PATH for p in collapsed)):
        return f"collapsed must be null or a list of at most {MAX_COLLAPSED} group paths"
    if only is not None and (type(only) is not list or len(only) > MAX_NODES
                             or not all(type(i) is int for i in only)):
        return f"nodes must be null or a list of at most {MAX_NODES} node ids"
    return None


def view_layout(wire: dict, collapsed: list[str] | None, only: list[int] | None = None,
                opened: str | None = None, memo: dict | None = None,
                layers: int | None = None, stop: Callable[[], bool] = never) -> dict:
    """The reply to a `layout` request, for the graph ``wire`` (whole, already checked); with
    ``only``, for the part of it those nodes make (a loop's iteration). ``memo``: a dict the
    caller keeps with the graph, where what does not depend on ``collapsed`` is kept. ``layers``:
    for the opening view, how many layers the page can show legibly side by side; the view opens
    at the deepest level that fits (or the top one). Raises grouping.LayoutStopped once
    ``stop()`` is true (checked at every group)."""
    memo = {} if memo is None else memo
    if memo.get("wire") is not wire or memo.get("only") != only:  # another graph or part
        nodes, edges = _parts(wire, only)
        memo.clear()
        memo.update(wire=wire, only=only, nodes=nodes, edges=edges, tree=None, identical=None)
    nodes, edges, cols = memo["nodes"], memo["edges"], wire["nodes"]

    def shut(tree) -> set[str]:
        if collapsed is None:
            return opening(tree)
        # A group opened shows its next level: the groups in it stay collapsed.
        return set(collapsed) | (set(tree.children.get(opened, ())) if opened else set())

    modules = modules_from_wire(wire)
    tree, cells = layout(nodes, edges, modules, shut, memo["tree"], stop)
    memo["tree"] = tree
    if collapsed is None and layers:
        levels = opening_levels(tree)
        for level, _ in reversed(levels[first_readable(levels):-1]):  # shallower, while too
            if max((n.layer for n in nodes), default=0) < layers:  # wide (the page pans)
                break
            tree, cells = layout(nodes, edges, modules, level, tree, stop)
    # A split group (layout.py: it cuts across the data flow) is no frame: its children are
    # the parent's.
    paths = [g for g in _outside_in(tree) if g != ROOT and g not in tree.split]
    index = {g: k for k, g in enumerate(paths)}
    closed = set(cells)  # the collapsed groups that show, and the groups inside them
    for g in paths:
        if _shown_parent(tree, g) in closed:
            closed.add(g)
    if memo["identical"] is None:
        memo["identical"] = tree.identical(stop)
    identical = memo["identical"]
    groups = [[g, index.get(_shown_parent(tree, g), -1), "fold" if tree.is_fold(g) else "module",
               tree.classes.get(g) or tree.labels.get(g, ""), g in closed, identical.get(g, 0)]
              for g in paths]
    order = sorted(range(len(nodes)), key=lambda k: nodes[k].id)  # layout's node order
    innermost = [-1] * len(nodes)
    for i, k in enumerate(order):
        shown_in = [g for g in tree.chains[i] if g not in tree.split]
        innermost[k] = index[shown_in[-1]] if shown_in else -1
    return {"nodes": len(cols["id"]), "ids": [n.id for n in nodes],
            "layer": [n.layer for n in nodes], "row": [n.row for n in nodes],
            "group": innermost, "groups": groups}


def _parts(wire: dict, only: list[int] | None) -> tuple[list, list]:
    """The graph's nodes (those in ``only``) and the edges among them, as layout.py takes them."""
    cols, strings = wire["nodes"], wire["strings"]
    text = lambda i: None if i is None else strings[i]  # noqa: E731
    wanted = None if only is None else set(only)
    nodes = [SimpleNamespace(id=node_id, module=text(cols["module"][k]), kind=text(cols["kind"][k]),
                             name=text(cols["name"][k]), line=cols["line"][k],
                             shape=_leaf_shape(cols["values"][k]) if text(cols["kind"][k]) == "leaf"
                             else None)
             for k, node_id in enumerate(cols["id"]) if wanted is None or node_id in wanted]
    kept = {n.id for n in nodes}
    flat = wire["edges"]
    edges = [SimpleNamespace(**dict(zip(EDGE_FIELDS, flat[k:k + 4], strict=True)))
             for k in range(0, len(flat), 4) if flat[k] in kept and flat[k + 1] in kept]
    return nodes, edges


def _leaf_shape(values) -> tuple | None:
    """A leaf's shape from its value as the wire carries it (a summary list, whose first item
    is the shape), or None."""
    value = values[0] if type(values) is list and values else None
    if type(value) is list and len(value) > 2 and type(value[0]) is list:
        return tuple(value[0])
    if type(value) is dict and type(value.get("shape")) is list:
        return tuple(value["shape"])
    return None


def _shown_parent(tree, group: str) -> str:
    """The innermost group around ``group`` that is not split."""
    parent = tree.parent[group]
    while parent in tree.split:
        parent = tree.parent[parent]
    return parent


def _outside_in(tree) -> list[str]:
    order, queue = [], [ROOT]
    for group in queue:
        order.append(group)
        queue.extend(tree.children[group])
    return order
