"""A layered layout of the autograd graph, flowing from inputs (leaves) to the loss, with each
nn.Module's nodes kept together in a rectangle of their own.

The module tree (``node.module`` paths, ``net.0`` inside ``net``) is laid out from the inside
out. At each level the items are the module's own nodes and its child modules, each child a block
as wide and as tall as its own layout (plus a row of margin above and below, where its box is
drawn). Items are layered by the longest data-flow path reaching them, a block counting as many
layers as it spans, so every edge points forward. A *side input* (a leaf, or a chain of one-input
nodes hanging off one, as a weight and its transpose) moves right to the layer just before its
first consumer, so that a parameter sits beside the op that uses it. Each item then takes the
first free rows at or below where it lines up with its inputs (a block's entry row on their exit
rows; side inputs on their consumers), so blocks never overlap and a chain of blocks stays on one
line. A module whose blocks would form a cycle at some level (a module called
twice around another) is dissolved into its nodes there. Ties break by node id: deterministic.
Groups alike inside (the same items, block sizes and edges: a model's identical blocks, a
loop's windows) are laid out once, and a block's rows in a layer are kept as one span.
Plain lists and dicts, no networkx (tests/test_layout.py uses it as the oracle); pure: no torch,
no Flask.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable

from gradtrace.drawing.grouping import ROOT, Groups, LayoutStopped, never

LAYER_GAP = 160.0  # x distance between layers
ROW_GAP = 70.0  # y distance between rows
MARGIN_ROWS = 1  # free rows above and below a module's block, where its box and name go
BOX_ROWS = 2  # rows a collapsed group's box takes: its name, class, shapes and gradient
# Passes that may each find groups to split; past them, a group split also dissolves the groups
# inside it, so the layout ends in a few passes more. Real models need one or two (a ModuleDict
# called piecemeal); a forged graph nested 32 deep needed 32, each over the whole graph.
SPLIT_PASSES = 4


def layout(nodes, edges, modules: dict[str, str] | None = None, collapsed=None,
           groups: Groups | None = None,
           stop: Callable[[], bool] = never) -> tuple[Groups, dict[str, tuple[int, int]]]:
    """Set ``layer``, ``row``, ``x`` and ``y`` on each node (objects with ``id``, ``module``,
    ``kind``, ``name`` and ``line``) in place. Each group in ``collapsed`` (grouping.py; a set
    of paths, or a function of the Groups that gives one) is one box, a layer wide and
    ``BOX_ROWS`` tall, and its nodes take the place of its top cell. Returns the groups, and
    where each collapsed group that shows (no collapsed group around it) went: path -> (layer,
    row). Raises LayoutStopped, at the next group, once ``stop()`` is true."""
    ordered = sorted(nodes, key=lambda n: n.id)
    index = {n.id: i for i, n in enumerate(ordered)}
    count = len(ordered)
    inputs: list[list[int]] = [[] for _ in range(count)]
    for e in edges:
        src, dst = index.get(e.src), index.get(e.dst)
        if src is not None and dst is not None and src != dst:
            inputs[dst].append(src)
    tree = groups or Groups(ordered, inputs, modules)
    asked = collapsed(tree) if callable(collapsed) else set(collapsed or ())
    passes = 0
    while True:  # again when a group turns out to cut across the data flow
        collapsed = tree.boxes(asked)
        before = set(tree.split)
        try:
            placed, sizes = _lay_out_groups(tree, inputs, collapsed, stop)
        except _Split:
            passes += 1
            if passes >= SPLIT_PASSES:  # splits nested this deep: dissolve what is inside too
                for group in tree.split - before:
                    tree.split.update(_inside(tree, group))
            continue
        break
    layer, row = [0] * count, [0] * count
    cells = {}
    stack = [(ROOT, 0, 0)]
    while stack:  # from the outside in: each block's items, moved to where the block went
        group, base_layer, base_row = stack.pop()
        items, spots = placed[group]
        for item, (at_layer, at_row) in zip(items, spots, strict=True):
            if type(item) is int:
                layer[item], row[item] = base_layer + at_layer, base_row + at_row
            elif item in collapsed:
                cells[item] = (base_layer + at_layer, base_row + at_row)
                for i in tree.members[item]:
                    layer[i], row[i] = cells[item]
            else:
                stack.append((item, base_layer + at_layer, base_row + at_row + MARGIN_ROWS))
    for i, n in enumerate(ordered):
        n.layer, n.row = layer[i], row[i]
        n.x = layer[i] * LAYER_GAP
        n.y = row[i] * ROW_GAP
    return tree, cells


class _Split(Exception):
    """A group cuts across the data flow: the layout starts again with it split."""


def _lay_out_groups(tree: Groups, inputs: list[list[int]], collapsed: set[str],
                    stop: Callable[[], bool]):
    """Each group's block that shows, innermost first: (its items and their places, sizes).
    Every group that must be split is found in one pass (``_Split`` at its end), not one a pass:
    a forged graph with a split at every level started the layout again hundreds of times."""
    items_of, preds_of = _items_and_edges(tree, inputs)
    placed = {}  # group -> (its items, their (layer, row)) in its own frame
    sizes = {}  # group -> (layers, rows, (entry row, exit row)) of its block
    # A group's inside, as its layout sees it (which items are blocks and how big, and which
    # feed which) -> where they went and the block's size: groups alike inside (a model's
    # identical blocks, a loop's windows) are laid out once.
    shapes: dict = {}
    hidden = _inside_collapsed(tree, collapsed)
    split_found = False
    for group in tree.inside_out():
        if stop():
            raise LayoutStopped
        if group in collapsed:
            sizes[group] = (1, BOX_ROWS, (0, 0))
        elif group not in tree.split and group not in hidden:
            items, preds = items_of[group], preds_of[group]
            if any(type(it) is str and it not in sizes for it in items):
                continue  # a group inside it is split: laid out in the next pass
            index = {it: k for k, it in enumerate(items)}
            shape = (tuple(sizes[it] if type(it) is str else None for it in items),
                     tuple((index[p], k) for k, it in enumerate(items) for p in preds[it]))
            if shape not in shapes:
                try:
                    shapes[shape] = _lay_out_group(tree, items, preds, sizes)
                except _Split:
                    split_found = True
                    continue
            spots, size = shapes[shape]
            placed[group], sizes[group] = (items, spots), size
    if split_found:
        raise _Split
    return placed, sizes


def _inside(tree: Groups, group: str) -> list[str]:
    """Every group inside ``group``."""
    found, stack = [], list(tree.children.get(group, ()))
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(tree.children.get(child, ()))
    return found


def _inside_collapsed(tree: Groups, collapsed: set[str]) -> set[str]:
    """The groups inside a collapsed one (not laid out: they do not show), found from the
    outside in, one step a group."""
    hidden: set[str] = set()
    for group in reversed(tree.inside_out()):
        parent = tree.parent.get(group)
        if parent in collapsed or parent in hidden:
            hidden.add(group)
    return hidden


def _items_and_edges(tree: Groups, inputs: list[list[int]]):
    """Each group's items (its own nodes' indices and its child groups' paths, in order of
    their first node; a split group's children are its parent's) and, for each item, the items
    of the same group that feed it (ordered sets: the same run to run). One pass over the edges:
    an edge joins the two items it runs between in the innermost group that holds both ends."""
    split = tree.split
    chains = [[g for g in chain if g not in split] for chain in tree.chains] if split \
        else tree.chains
    first: dict = {}  # an item -> the index of its first node
    items_of: dict = {ROOT: []}
    for i, chain in enumerate(chains):
        items_of.setdefault(chain[-1] if chain else ROOT, []).append(i)
        first[i] = i
    for group, members in tree.members.items():
        if group == ROOT or group in split:
            continue
        parent = tree.parent[group]
        while parent in split:
            parent = tree.parent[parent]
        items_of.setdefault(parent, []).append(group)
        items_of.setdefault(group, [])
        first[group] = members[0]
    for items in items_of.values():
        items.sort(key=first.__getitem__)
    preds_of = {group: {it: {} for it in items} for group, items in items_of.items()}
    for i, at in enumerate(chains):
        for p in inputs[i]:
            fro = chains[p]
            d, most = 0, min(len(at), len(fro))
            if fro is at:
                d = most
            else:
                while d < most and at[d] == fro[d]:
                    d += 1
            a = fro[d] if len(fro) > d else p
            b = at[d] if len(at) > d else i
            if a != b:
                preds_of[at[d - 1] if d else ROOT][b][a] = None
    return items_of, preds_of


def _lay_out_group(tree: Groups, items: list, preds: dict, sizes: dict):
    """The (layer, row) of each of the ``items`` of a group (node indices, and child group
    paths; ``preds``: the items that feed each) in the group's own frame, and the group as a
    block: (layers, rows with margins, (entry row, exit row)) (``_ports``).

    A child group whose nodes are fed through the group's other items and feed them too (a
    ModuleDict whose members the model calls one by one, with its own ops between them) cannot
    be one block: it is split (``tree.split``), and the layout starts again (``_Split``) with
    its own children as items instead. Split before, a collapsed group flattened everything
    inside it into one long strip."""
    consumers: dict = {it: [] for it in items}
    for it in items:
        for p in preds[it]:
            consumers[p].append(it)
    order = _topological(items, preds, consumers)
    if len(order) < len(items):
        reached = set(order)  # the rest are on a cycle, or after one
        stuck = {it for it in items if it not in reached}
        looped = [it for it in stuck if type(it) is str and _returns(it, consumers, stuck)]
        tree.split.update(looped or [it for it in stuck if type(it) is str])
        raise _Split
    span = {it: 1 if type(it) is int else sizes[it][0] for it in items}
    height = {it: 1 if type(it) is int else sizes[it][1] for it in items}
    ports = {it: (0, 0) if type(it) is int else sizes[it][2] for it in items}
    at_layer: dict = {}
    side: dict = {}
    for it in order:
        ins = preds[it]
        at_layer[it] = max((at_layer[p] + span[p] for p in ins), default=0)
        side[it] = type(it) is int and (not ins or (len(ins) == 1 and side[next(iter(ins))]))
    for it in reversed(order):  # consumers first: a chain moves as a whole
        if side[it] and consumers[it]:
            at_layer[it] = min(at_layer[c] for c in consumers[it]) - 1
    at_row = _pack(order, preds, consumers, side, at_layer, span, height, ports)
    layers = max((at_layer[it] + span[it] for it in items), default=1)
    rows = max((at_row[it] + height[it] for it in items), default=1)
    size = (layers, rows + 2 * MARGIN_ROWS, _ports(order, side, consumers, at_row, ports))
    return [(at_layer[it], at_row[it]) for it in items], size


def _returns(start, consumers: dict, among: set) -> bool:
    """Whether ``start`` feeds itself, through items ``among``."""
    seen, stack = set(), list(consumers[start])
    while stack:
        it = stack.pop()
        if it == start:
            return True
        if it in among and it not in seen:
            seen.add(it)
            stack.extend(consumers[it])
    return False


def _ports(order, side, consumers, at_row, ports) -> tuple[int, int]:
    """The rows of a block (margin included) where its main line comes in (its first main item)
    and goes out (its last main item that feeds nothing inside it)."""
    main = [it for it in order if not side[it]] or order
    if not main:
        return MARGIN_ROWS, MARGIN_ROWS
    sinks = [it for it in main if not consumers[it]] or main
    return (MARGIN_ROWS + at_row[main[0]] + ports[main[0]][0],
            MARGIN_ROWS + at_row[sinks[-1]] + ports[sinks[-1]][1])


def _topological(items: list, preds: dict, consumers: dict) -> list:
    """Kahn's algorithm, the earliest item first among the ready ones. On a cycle it stalls:
    the items it reached, fewer than all."""
    waiting = {it: len(preds[it]) for it in items}
    rank = {it: k for k, it in enumerate(items)}
    ready = [rank[it] for it in items if waiting[it] == 0]  # a heap of ranks
    order = []
    while ready:
        it = items[heapq.heappop(ready)]
        order.append(it)
        for c in consumers[it]:
            waiting[c] -= 1
            if waiting[c] == 0:
                heapq.heappush(ready, rank[c])
    return order


def _first_free(column: dict[int, int], r: int) -> int:
    """The first row at or below ``r`` not in ``column``, shortening the chain it followed."""
    path = []
    while r in column:
        path.append(r)
        r = column[r]
    for row in path:
        column[row] = r
    return r


def _block_end(starts: list[int] | None, ends: dict[int, int] | None, lo: int,
               hi: int) -> int | None:
    """The end row of the block of a layer (its rows: ``starts``, sorted, and their ``ends``)
    that takes a row from ``lo`` up to ``hi``, if one does."""
    k = bisect.bisect_left(starts, hi) - 1 if starts else -1  # the last to start above ``hi``
    return ends[starts[k]] if k >= 0 and ends[starts[k]] > lo else None


def _pack(order, preds, consumers, side, at_layer, span, height, ports) -> dict:
    """Rows: main items in topological order, then side inputs consumers-first, each at the first
    free rows at or below where it lines up with its neighbours: its entry row (for a block, the
    row its first main item takes; ``ports``) at the mean exit row of its main inputs, or a side
    input at the mean entry row of its consumers. So a chain of blocks stays on one line."""
    # layer -> {taken row: a row at or above which to look for the next free one}: the first
    # free row is found in near-constant time, however many nodes share a layer (a loop that
    # makes 20,000 results of one weight puts them all in one layer)
    taken: dict[int, dict[int, int]] = {}
    # layer -> the rows blocks take in it, as sorted starts and their ends: a block of many
    # layers and rows is two numbers a layer, not a cell each
    starts: dict[int, list[int]] = {}
    ends: dict[int, dict[int, int]] = {}
    below: dict[int, int] = {}  # layer -> the first row below everything taken in it
    at_row: dict = {}

    def place(it, wanted: float) -> None:
        r = max(int(wanted + 0.5), 0)
        first, layers, rows = at_layer[it], span[it], height[it]
        if layers == rows == 1:  # a node: one cell
            column = taken.setdefault(first, {})
            r = _first_free(column, r)
            while (end := _block_end(starts.get(first), ends.get(first), r, r + 1)) is not None:
                r = _first_free(column, end)
            column[r] = r + 1
        else:  # a block: free where it is below everything in its layers, else row by row
            def blocked(r: int) -> bool:  # a node's cell or another block in its way at r
                return any(_block_end(starts.get(layer), ends.get(layer), r, r + rows) is not None
                           or any(r + j in taken.get(layer, ()) for j in range(rows))
                           for layer in range(first, first + layers))

            clear = max(below.get(first + k, 0) for k in range(layers))
            while r < clear and blocked(r):
                r += 1
            for k in range(layers):
                bisect.insort(starts.setdefault(first + k, []), r)
                ends.setdefault(first + k, {})[r] = r + rows
        for k in range(layers):
            below[first + k] = max(below.get(first + k, 0), r + rows)
        at_row[it] = r

    def mean(rows: list) -> float:
        return sum(rows) / len(rows) if rows else 0.0

    for it in order:
        if not side[it]:
            exits = [at_row[p] + ports[p][1] for p in preds[it] if not side[p]]
            place(it, mean(exits) - ports[it][0])
    # Side inputs consumers first (a side item sits a layer before its consumers), and of those
    # that feed one layer the longest chain first: it takes the row in line with its consumer,
    # so that a chain the page shortens (a view folded away) does not run under a lone leaf
    # (the autograd tutorial's matmul, past b, into the add).
    chain: dict = {}
    for it in order:
        if side[it]:
            chain[it] = 1 + max((chain.get(p, 0) for p in preds[it]), default=0)
    later = {it: k for k, it in enumerate(reversed(order))}
    for it in sorted(chain, key=lambda it: (-at_layer[it], -chain[it], later[it])):
        entries = [at_row[c] + ports[c][0] for c in consumers[it] if c in at_row]
        place(it, mean(entries))
    return at_row
