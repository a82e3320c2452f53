"""The autograd graph as it really is: nodes found by walking ``grad_fn`` / ``next_functions``.

Every walk here is iterative (an explicit stack), so a 100,000-node chain is as safe as a 3-node
one; torchviz recurses and dies near 1,000.

# NOTE [node identity]
Python wrappers of autograd nodes are cached on the C++ node while a wrapper is alive, so holding
the wrapper (``NodeRecord.fn``) keeps ``id(fn)`` stable and lets a dict keyed by ``id`` recognise a
node we have already seen. Holding it also keeps the node alive until the run ends.
"""

from __future__ import annotations

import torch
from torch.autograd.function import BackwardCFunction

from gradtrace.capture.batch import BATCH_LIMIT
from gradtrace.capture.values import describe, fmt
from gradtrace.trace.protocol import Edge, Node

SAVED_PREFIX = "_saved_"
_MAX_SAVED_REPR = 80


class GraphTooLarge(MemoryError):
    """The run recorded more autograd nodes than it may (a MemoryError: code memory_limit)."""


class NodeRecord:
    """A node we have seen: the live autograd node plus the document's Node being filled in."""

    __slots__ = ("fn", "node", "variable", "saved_done", "arity")

    def __init__(self, fn, node: Node, variable=None):
        self.fn = fn
        self.node = node
        self.variable = variable  # the leaf tensor, for AccumulateGrad
        self.saved_done = False
        self.arity = 0  # len(fn.next_functions): the gradients it sends, one per slot


_NAMES: dict[type, tuple[str, str]] = {}


def node_name(fn) -> tuple[str, str]:
    """(kind, name) of an autograd node; a custom Function is named after its class. Cached by
    the node's type, since every node of a run asks, where the type is the node's own (a C++ node
    without a Python class of its own shares a generic one, and is asked each time)."""
    found = _NAMES.get(type(fn))
    if found is None:
        found = _node_name(fn)
        if found[1] == type(fn).__name__ or isinstance(fn, BackwardCFunction):
            _NAMES[type(fn)] = found
    return found


def _node_name(fn) -> tuple[str, str]:
    if isinstance(fn, BackwardCFunction):
        forward_cls = getattr(type(fn), "_forward_cls", None)
        return "function", forward_cls.__name__ if forward_cls else type(fn).__name__
    name = fn.name()
    if name.endswith("AccumulateGrad"):
        return "leaf", "AccumulateGrad"
    return "op", name


class Graph:
    """Registry of every autograd node the run created, with its edges."""

    def __init__(self, summaries, tensors, max_nodes: int = 1_000_000):
        self.summaries = summaries
        self.max_nodes = max_nodes
        self.tensors = tensors  # to point at values the trace already holds
        self.records: list[NodeRecord] = []
        self.edges: list[Edge] = []
        self._inputs: dict[int, list[Edge]] = {}  # node id -> the edges into its slots
        self._by_id: dict[int, NodeRecord] = {}
        self._saved_attrs: dict[type, tuple[str, ...]] = {}
        self._leaf_summaries: dict[int, tuple] = {}  # id -> (leaf, version, summary)

    @property
    def size(self) -> int:
        return len(self.records)

    def get(self, fn) -> NodeRecord | None:
        return self._by_id.get(id(fn))

    def inputs_of(self, node_id: int) -> list[Edge]:
        return self._inputs.get(node_id, [])

    def _register(self, fn, step: int | None, pass_: int | None) -> NodeRecord:
        if len(self.records) >= self.max_nodes:
            raise GraphTooLarge(f"the autograd graph grew past {self.max_nodes} nodes")
        kind, name = node_name(fn)
        # positional (op, line, span and module are filled in later): a dataclass takes keywords
        # at twice the cost, and every node of a walk is made here
        node = Node(len(self.records), kind, name, "", None, "", None, step, pass_)
        rec = NodeRecord(fn, node, getattr(fn, "variable", None) if kind == "leaf" else None)
        self.records.append(rec)
        self._by_id[id(fn)] = rec
        return rec

    def discover(self, roots, step: int | None = None,
                 pass_: int | None = None) -> list[NodeRecord]:
        """Register every node reachable from ``roots`` that is new, with its edges, and return the
        new records. Known nodes end the walk: their inputs were registered with them."""
        by_id, register, inputs = self._by_id, self._register, self._inputs
        add_edge = self.edges.append
        found: list[NodeRecord] = []
        stack = []
        for fn in roots:
            if fn is not None and id(fn) not in by_id:
                stack.append(register(fn, step, pass_))
        while stack:
            rec = stack.pop()
            found.append(rec)
            nexts = rec.fn.next_functions
            rec.arity = len(nexts)
            into = inputs[rec.node.id] = []
            for slot, (nxt, output_nr) in enumerate(nexts):
                if nxt is None:
                    continue
                child = by_id.get(id(nxt))
                if child is None:
                    child = register(nxt, step, pass_)
                    stack.append(child)
                edge = Edge(child.node.id, rec.node.id, slot, output_nr)
                add_edge(edge)
                into.append(edge)
        return found

    def reachable(self, roots) -> list[NodeRecord]:
        """Every record reachable from ``roots``, along the recorded edges: no autograd calls
        (asking a node for its next_functions wraps each of them, about 7 us a node). Call
        discover(roots) first, so that every node on the way is known."""
        records, inputs, by_id = self.records, self._inputs, self._by_id
        seen: set[int] = set()
        stack = []
        for fn in roots:
            rec = by_id.get(id(fn)) if fn is not None else None
            if rec is not None and rec.node.id not in seen:
                seen.add(rec.node.id)
                stack.append(rec.node.id)
        found = []
        while stack:
            i = stack.pop()
            found.append(records[i])
            for edge in inputs.get(i, ()):
                if edge.src not in seen:
                    seen.add(edge.src)
                    stack.append(edge.src)
        return found

    def release(self) -> None:
        """Drop our references to the autograd nodes, consumers before their inputs.

        # NOTE [release order]
        A node's Python wrapper and the node keep each other alive, and freeing a node whose inputs
        are only kept by it frees them too, recursively in C++. Released from the leaves' end, a
        100,000-node chain overflows the C stack; released consumers first, each node dies alone
        because its inputs are still held here."""
        self._by_id.clear()
        self._inputs.clear()
        self._leaf_summaries.clear()
        consumed_by = [0] * len(self.records)
        inputs_of: list[list[int]] = [[] for _ in self.records]
        for e in self.edges:
            consumed_by[e.src] += 1
            inputs_of[e.dst].append(e.src)
        ready = [i for i, n in enumerate(consumed_by) if n == 0]
        while ready:
            i = ready.pop()
            self.records[i].fn = None
            self.records[i].variable = None
            for src in inputs_of[i]:
                consumed_by[src] -= 1
                if consumed_by[src] == 0:
                    ready.append(src)
        self.records.clear()

    def snapshot_saved(self, rec: NodeRecord) -> None:
        """Record the node's saved tensors and values now, before backward frees them."""
        if rec.saved_done:
            return
        rec.saved_done = True
        fn = rec.fn
        if rec.node.kind == "function":
            try:
                rec.node.saved = [self._saved(f"saved_tensors[{i}]", t)
                                  for i, t in enumerate(fn.saved_tensors)]
            except RuntimeError as exc:
                rec.node.saved = [_unreadable("saved_tensors", exc)]
            return
        saved = []
        for attr in self._saved_names(type(fn)):
            name = attr[len(SAVED_PREFIX):]
            try:
                saved.append(self._saved(name, getattr(fn, attr)))
            except RuntimeError as exc:
                saved.append(_unreadable(name, exc))
        rec.node.saved = saved

    def _saved(self, name: str, v) -> dict:
        """One saved value. A tensor that a step output holds unchanged points at that output
        (``same_as``) instead of repeating its summary."""
        if isinstance(v, torch.Tensor):
            same_as = self.tensors.recorded_value(v)
            if same_as is not None:
                return {"name": name, "value": None, "same_as": same_as}
            if v.numel() > BATCH_LIMIT:  # usually a view of a weight: its shape says enough
                return {"name": name, "value": describe(v, "large")}
            return {"name": name, "value": self.value_summary(v)}
        if isinstance(v, bool | int | float):
            return {"name": name, "value": fmt(v)}
        if v is None:
            return {"name": name, "value": None}
        text = repr(v)
        if len(text) > _MAX_SAVED_REPR:
            text = text[: _MAX_SAVED_REPR - 1] + "…"
        return {"name": name, "value": text}

    def value_summary(self, v: torch.Tensor) -> dict:
        """The summary of a saved value, or of a leaf's value where the graph first meets it.
        A leaf (a weight, say) is met once and saved by every node that uses it: one summary
        per version serves them all. Leaves are held by the run anyway; other tensors are not
        kept."""
        if not v.is_leaf or v.is_inference():  # an inference tensor has no version to key on
            return self.summaries.of(v)
        found = self._leaf_summaries.get(id(v))
        if found is None or found[0] is not v or found[1] != v._version:
            found = self._leaf_summaries[id(v)] = (v, v._version, self.summaries.of(v))
        return found[2]

    def _saved_names(self, cls) -> tuple[str, ...]:
        names = self._saved_attrs.get(cls)
        if names is None:
            names = tuple(a for a in dir(cls) if a.startswith(SAVED_PREFIX))
            self._saved_attrs[cls] = names
        return names


def _unreadable(name: str, exc: RuntimeError) -> dict:
    """A saved value autograd refuses to give back: freed by an earlier backward, or modified in
    place after it was saved (the doctor's evidence for inplace_modified)."""
    message = str(exc)
    if "freed" in message:
        return {"name": name, "value": None, "freed": True}
    return {"name": name, "value": None, "error": message.split(". Hint")[0][:300]}
