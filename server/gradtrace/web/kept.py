"""Large values stay on the server until the page asks for them (`inspect`).

A run's events carry everything the worker recorded. The page needs the skeleton at once, to draw
and animate it: the graph, the steps, and each tensor's statistics. The numbers themselves it
needs only when somebody clicks, and they are most of a stream: every summary that lists more
than ``LISTED_LIMIT`` values (a step's output, a gradient, a parameter) or has a histogram, and
each node's saved values. Those are kept here, for a client's latest run, and the events go on
without them:
- such a summary loses ``values`` and ``hist`` and gains ``kept``, an id to ask for it by, and,
  when it listed at most ``PREVIEW_LIMIT`` values, ``preview``: each value as one hex digit, its
  sixteenth of [min, max] (``x`` where it is not finite), enough to draw its glyph;
- a saved entry is sent as its name alone (graph_from_wire turns it into ``{"name", "kept"}``).
It also keeps the graph last relayed, so that the final graph goes as its difference from the
one sent before the first pass (wire.graph_delta), and so that `layout` can lay it out again with
the groups the page collapsed (views.py). The server forgets a client's run when the
client runs again or leaves.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

from gradtrace.drawing.grouping import LayoutStopped, never
from gradtrace.drawing.views import request_problem, view_layout
from gradtrace.trace.protocol import PREVIEW_LIMIT
from gradtrace.trace.wire import SUMMARY_FIELDS, graph_delta, summary_from_wire

LISTED_LIMIT = 4  # values a summary still lists in the stream: as many as the canvas writes out
MAX_NAME = 1000  # characters in an inspect request's variable name
# What one run may keep, in bytes of JSON (estimated): a classroom's hundreds of clients must not
# hold hundreds of big models in the server's memory.
MAX_KEPT_BYTES = 16 * 2**20
# A graph kept for `layout`, and what views.py builds from it, take about this much a node
# (measured with tracemalloc: 2.1-2.6 KB parsed, 1 KB of layout state). A graph of more nodes
# than MAX_VIEW_NODES is not kept: the page draws it whole.
KEPT_NODE_BYTES = 4096
MAX_VIEW_NODES = 100_000
_ENTRY_BYTES = 120  # a summary's or saved entry's fields besides its lists of numbers
_NUMBER_BYTES = 12
_LISTED = len(SUMMARY_FIELDS) + 1  # a wire summary list that ends with its values
_DIGITS = "0123456789abcdef"


class KeptRun:
    """The large values of one run, as its worker sent them (already checked)."""

    def __init__(self):
        self.summaries: dict[int, object] = {}  # kept id -> the summary as the worker sent it
        self.variables: dict[str, dict] = {}  # name -> {"value": summary, "grad": summary}
        self.saved: dict[int, list] = {}  # node id -> its saved entries
        self.held_bytes = 0
        self.overflowed = False  # over MAX_KEPT_BYTES: nothing is kept, and inspect says so
        self._next_id = 1  # ids start at 1: a kept id is never falsy
        self._node_values: dict[int, tuple[list, list]] = {}  # node id -> (as sent, as relayed)
        self._graph: dict | None = None  # the last graph relayed, whole
        self.graph_bytes = 0  # what keeping it costs (KEPT_NODE_BYTES a node)
        self.too_big = 0  # the nodes of a graph too big to keep, if one came
        self._lock = threading.Lock()  # the run's thread writes, Socket.IO handlers read
        self._laying_out = threading.Lock()  # one `layout` at a time per client
        self._last_view: tuple = (None, None, None)  # (graph, collapsed, reply)
        self._view_memo: dict = {}  # what views.py keeps about the graph between layouts

    def strip(self, batch: list[dict]) -> None:
        """Keep the large parts of ``batch``'s events and take them out of the events."""
        keep = self._keep
        for event in batch:
            kind = event.get("type")
            if kind == "forward":
                columns = event["steps"]["columns"]
                columns["values"] = [[keep(s) for s in values] for values in columns["values"]]
            elif kind == "backward":
                steps = event["result"]["steps"]
                steps["summaries"] = [keep(s) for s in steps["summaries"]]
                steps["columns"]["detail"] = [self._keep_detail(d)
                                              for d in steps["columns"]["detail"]]
            elif kind == "graph":
                graph = event["graph"]
                graph.pop("base", None)  # a difference is the server's to make, not a worker's
                self._strip_node_values(graph["nodes"])
                self._strip_saved(graph["nodes"])
                nodes = len(graph["nodes"]["id"])
                if nodes > MAX_VIEW_NODES:  # sent whole, and not kept
                    self._graph, self.graph_bytes, self.too_big = None, 0, nodes
                else:
                    event["graph"], self._graph = graph_delta(self._graph, graph), graph
                    self.graph_bytes = nodes * KEPT_NODE_BYTES
            elif kind == "cut":
                event["step"]["values"] = [keep(s) for s in event["step"]["values"]]
            elif kind == "variables":
                self._strip_variables(event["variables"])

    @property
    def holds(self) -> int:
        """Bytes this run keeps: its values (none once it overflowed) and its graph."""
        return (0 if self.overflowed else self.held_bytes) + self.graph_bytes

    def _keep(self, summary):
        """``summary`` as the stream carries it: whole when it is small, else without its numbers,
        which are kept under a new id."""
        if type(summary) is list:
            if len(summary) != _LISTED or len(summary[-1]) <= LISTED_LIMIT:
                return summary
            values, low, high = summary[-1], summary[4], summary[5]
        elif type(summary) is dict:
            values = summary.get("values")
            if "hist" not in summary and not (type(values) is list
                                              and len(values) > LISTED_LIMIT):
                return summary
            low, high = summary.get("min"), summary.get("max")
        else:
            return summary
        kept_id = self._next_id
        self._next_id += 1
        if self._may_keep(_size(summary)):
            with self._lock:
                self.summaries[kept_id] = summary
        preview = (_preview(values, low, high)
                   if type(values) is list and len(values) <= PREVIEW_LIMIT else None)
        if type(summary) is list:
            return [*summary[:-1], preview, kept_id]
        out = {k: v for k, v in summary.items() if k not in ("values", "hist")}
        out["kept"] = kept_id
        if preview is not None:
            out["preview"] = preview
        return out

    def _keep_detail(self, detail):
        if type(detail) is not dict or "grad_before" not in detail:
            return detail
        return {k: self._keep(v) if k.startswith("grad_") else v for k, v in detail.items()}

    def _may_keep(self, size: int) -> bool:
        self.held_bytes += size
        if self.held_bytes > MAX_KEPT_BYTES and not self.overflowed:
            with self._lock:
                self.overflowed = True
                self.summaries, self.variables, self.saved = {}, {}, {}
        return not self.overflowed

    def _strip_node_values(self, columns: dict) -> None:
        """The final graph repeats the first one's nodes: those keep the ids they had."""
        relayed, known = [], self._node_values
        for node, values in zip(columns["id"], columns["values"], strict=True):
            found = known.get(node)
            if found is None or found[0] != values:
                found = known[node] = (values, [self._keep(v) for v in values])
            relayed.append(found[1])
        columns["values"] = relayed

    def _strip_variables(self, variables: list[dict]) -> None:
        kept = {v["name"]: {"value": v["value"], "grad": v["grad"]} for v in variables}
        for v in variables:
            v["value"], v["grad"] = self._keep(v["value"]), self._keep(v["grad"])
        if not self.overflowed:
            with self._lock:
                self.variables = kept  # the same objects as in `summaries`: no more memory

    def _strip_saved(self, columns: dict) -> None:
        saved = columns["saved"]
        new = {node: entries for node, entries in zip(columns["id"], saved, strict=True)
               if entries and node not in self.saved}  # the final graph repeats the first
        size = sum(_size(e.get("value")) for entries in new.values() for e in entries)
        if self._may_keep(size):
            with self._lock:
                self.saved.update(new)
        columns["saved"] = [[_saved_name(e) for e in entries] if entries else entries
                            for entries in saved]

    def answer(self, request) -> dict:
        """The full values an ``inspect`` request asks for: ``{"summary": id}`` gives that summary
        whole, ``{"variable": name}`` that variable's value and grad, ``{"node": id}`` that
        node's saved entries."""
        if not isinstance(request, dict):
            return {"error": "inspect expects an object: {summary}, {variable} or {node}"}
        name, node, kept_id = request.get("variable"), request.get("node"), request.get("summary")
        with self._lock:
            if self.overflowed:
                return {"error": f"this run's values were over {MAX_KEPT_BYTES // 2**20} MiB, "
                                 "so the server did not keep them"}
            if type(kept_id) is int:
                found = self.summaries.get(kept_id)
                return ({"summary": kept_id, "value": summary_from_wire(found)}
                        if found is not None
                        else {"error": f"no kept summary {kept_id} in the last run"})
            if isinstance(name, str) and len(name) <= MAX_NAME:
                found = self.variables.get(name)
                return ({"variable": name, **found} if found is not None
                        else {"error": f"no variable {name!r} in the last run"})
            if type(node) is int:
                found = self.saved.get(node)
                return ({"node": node, "saved": found} if found is not None
                        else {"error": f"node {node} of the last run has no saved values"})
        return {"error": "inspect needs `summary` (an id), `variable` (a name) or `node` (an id)"}


    def view(self, request, wait: float = 0, stop: Callable[[], bool] = never) -> dict:
        """A `layout` request's reply (views.py): the last graph relayed, laid out with the
        groups it names collapsed. One at a time: a client that asks again before its last
        reply is told so, rather than queueing work on the server. A classroom's viewers share
        the room's run, so each waits its turn (``wait`` seconds at most; it has one request
        in flight at a time, live.py), and most find the presenter's layout already made.
        The work stops, at the next group, once ``stop()`` is true: nobody waits for it."""
        problem = request_problem(request)
        if problem:
            return {"error": problem}
        with self._lock:
            graph = self._graph
        if graph is None:
            return {"error": f"this graph of {self.too_big:,} nodes is too big to lay out again "
                             f"on the server (at most {MAX_VIEW_NODES:,}): it is drawn whole"
                    if self.too_big else "no graph yet in this run"}
        turn = (self._laying_out.acquire(timeout=wait) if wait > 0
                else self._laying_out.acquire(blocking=False))
        if not turn:
            return {"error": "busy: the last layout asked for is still being made"}
        try:
            wanted, only, opened, layers = (request["collapsed"], request.get("nodes"),
                                            request.get("opened"), request.get("layers"))
            key = (None if wanted is None else sorted(set(wanted)), only, opened, layers)
            last_graph, last_key, reply = self._last_view
            if last_graph is not graph or last_key != key:
                reply = view_layout(graph, wanted, only, opened, self._view_memo, layers, stop)
                self._last_view = (graph, key, reply)
            return reply
        except LayoutStopped:
            return {"error": "stopped: nobody waits for this layout any more"}
        finally:
            self._laying_out.release()


def _preview(values: list, low, high) -> str | None:
    """Each value as the sixteenth of [low, high] it falls in: a hex digit, or ``x`` when it is
    not a finite number. None when the statistics are not numbers (a summary of nothing)."""
    if not (_is_number(low) and _is_number(high)):
        return None
    span = high - low
    digits = []
    for v in values:
        if type(v) is list and len(v) == 2 and all(map(_is_number, v)):
            v = math.hypot(*v)  # a complex value: its magnitude, as its statistics are
        if not _is_number(v) or not math.isfinite(v):
            digits.append("x")
        else:
            level = int((v - low) / span * 16) if span > 0 else 0
            digits.append(_DIGITS[min(max(level, 0), 15)])
    return "".join(digits)


def _is_number(v) -> bool:
    return type(v) in (int, float)


def _size(summary) -> int:
    """About how many bytes of JSON a summary (or a saved value) is."""
    if type(summary) is list:
        values = summary[-1] if len(summary) == _LISTED else ()
        return _ENTRY_BYTES + _NUMBER_BYTES * len(values)
    if not isinstance(summary, dict):
        return _ENTRY_BYTES
    numbers = sum(len(summary[k]) for k in ("values", "hist") if isinstance(summary.get(k), list))
    return _ENTRY_BYTES + _NUMBER_BYTES * numbers


def _saved_name(entry):
    """A saved entry without its value: what the graph draws is its name. A plain number (an
    exponent, an alpha) stays whole: the captions' local derivatives use it."""
    if isinstance(entry, dict) and type(entry.get("value")) in (int, float):
        return entry
    return entry.get("name") if isinstance(entry, dict) else entry


class KeptRuns:
    """Each client's latest run."""

    def __init__(self):
        self._runs: dict[str, KeptRun] = {}
        self._lock = threading.Lock()

    def start(self, client: str) -> KeptRun:
        run = KeptRun()
        with self._lock:
            self._runs[client] = run
        return run

    def answer(self, client: str, request) -> dict:
        run = self._run_of(client)
        if run is None:
            return {"error": "nothing to inspect: no run on this connection"}
        return run.answer(request)

    def view(self, client: str, request, wait: float = 0,
             stop: Callable[[], bool] = never) -> dict:
        run = self._run_of(client)
        if run is None:
            return {"error": "nothing to lay out: no run on this connection"}
        return run.view(request, wait, stop)

    def has(self, client: str) -> bool:
        return self._run_of(client) is not None

    def _run_of(self, client: str) -> KeptRun | None:
        with self._lock:
            return self._runs.get(client)

    def forget(self, client: str) -> None:
        with self._lock:
            self._runs.pop(client, None)

    def total_bytes(self, besides: str | None = None) -> int:
        """What every client's run keeps (values and graphs), but ``besides``'s."""
        with self._lock:
            runs = [run for client, run in self._runs.items() if client != besides]
        return sum(run.holds for run in runs)

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)
