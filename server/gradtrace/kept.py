"""Large values stay on the server until the page asks for them (`inspect`).

A run's events carry everything the worker recorded. The page needs the skeleton at once, to draw
and animate it; the rest it shows only when somebody clicks: every variable's full value list and
histogram (up to 1,024 numbers for each parameter of a model, most of a model's stream) and each
node's saved values. Those are kept here, for a client's latest run, and the events go on without
them: a summary that lost its values says ``"kept": true``, and a saved entry is sent as its name
alone (graph_from_wire turns it into ``{"name", "kept": true}``). The server
forgets a client's run when the client runs again or leaves.
"""

from __future__ import annotations

import threading

from gradtrace.protocol import PREVIEW_LIMIT

MAX_NAME = 1000  # characters in an inspect request's variable name
# What one run may keep, in bytes of JSON (estimated): a classroom's hundreds of clients must not
# hold hundreds of big models in the server's memory.
MAX_KEPT_BYTES = 16 * 2**20
_ENTRY_BYTES = 120  # a summary's or saved entry's fields besides its lists of numbers
_NUMBER_BYTES = 12


class KeptRun:
    """The large values of one run, as its worker sent them (already checked)."""

    def __init__(self):
        self.variables: dict[str, dict] = {}  # name -> {"value": summary, "grad": summary}
        self.saved: dict[int, list] = {}  # node id -> its saved entries
        self.held_bytes = 0
        self.overflowed = False  # over MAX_KEPT_BYTES: nothing is kept, and inspect says so
        self._lock = threading.Lock()  # the run's thread writes, Socket.IO handlers read

    def strip(self, batch: list[dict]) -> None:
        """Keep the large parts of ``batch``'s events and take them out of the events."""
        for event in batch:
            if event.get("type") == "variables":
                self._strip_variables(event["variables"])
            elif event.get("type") == "graph":
                self._strip_saved(event["graph"]["nodes"])

    def _may_keep(self, size: int) -> bool:
        self.held_bytes += size
        if self.held_bytes > MAX_KEPT_BYTES and not self.overflowed:
            with self._lock:
                self.overflowed = True
                self.variables, self.saved = {}, {}
        return not self.overflowed

    def _strip_variables(self, variables: list[dict]) -> None:
        kept = {v["name"]: {"value": v["value"], "grad": v["grad"]} for v in variables}
        if self._may_keep(sum(_size(v["value"]) + _size(v["grad"]) for v in variables)):
            with self._lock:
                self.variables = kept
        for v in variables:
            v["value"], v["grad"] = _small(v["value"]), _small(v["grad"])

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
        """The full values an ``inspect`` request asks for: ``{"variable": name}`` gives that
        variable's value and grad, ``{"node": id}`` that node's saved entries."""
        if not isinstance(request, dict):
            return {"error": "inspect expects an object: {variable} or {node}"}
        name, node = request.get("variable"), request.get("node")
        with self._lock:
            if self.overflowed:
                return {"error": f"this run's values were over {MAX_KEPT_BYTES // 2**20} MiB, "
                                 "so the server did not keep them"}
            if isinstance(name, str) and len(name) <= MAX_NAME:
                found = self.variables.get(name)
                return ({"variable": name, **found} if found is not None
                        else {"error": f"no variable {name!r} in the last run"})
            if type(node) is int:
                found = self.saved.get(node)
                return ({"node": node, "saved": found} if found is not None
                        else {"error": f"node {node} of the last run has no saved values"})
        return {"error": "inspect needs `variable` (a name) or `node` (an id)"}


def _size(summary) -> int:
    """About how many bytes of JSON a summary (or a saved value) is."""
    if not isinstance(summary, dict):
        return _ENTRY_BYTES
    numbers = sum(len(summary[k]) for k in ("values", "hist") if isinstance(summary.get(k), list))
    return _ENTRY_BYTES + _NUMBER_BYTES * numbers


def _small(summary):
    """A summary fit for the skeleton: its listed values only when they are few, no histogram."""
    if not isinstance(summary, dict):
        return summary
    values = summary.get("values")
    if "hist" not in summary and not (isinstance(values, list) and len(values) > PREVIEW_LIMIT):
        return summary
    out = {k: v for k, v in summary.items() if k not in ("values", "hist")}
    out["kept"] = True
    return out


def _saved_name(entry):
    """A saved entry without its value: what the graph draws is its name."""
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
        with self._lock:
            run = self._runs.get(client)
        if run is None:
            return {"error": "nothing to inspect: no run on this connection"}
        return run.answer(request)

    def forget(self, client: str) -> None:
        with self._lock:
            self._runs.pop(client, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)
