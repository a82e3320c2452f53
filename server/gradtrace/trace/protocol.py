"""The trace document (schema "gradtrace/1"): the single source of truth for what a run recorded.

Capture fills these dataclasses; ``document()`` turns a Trace into the JSON-ready dict that
`gradtrace trace --json` prints. Summaries (the ``value``/``grad``/``grad_in`` fields) are already
JSON-ready dicts made by capture/values.py. docs/protocol.md describes every field;
static/js/protocol.js mirrors the names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gradtrace.drawing.grouping import module_of_call
from gradtrace.trace.wire import (
    backward_steps_from_wire,
    backward_steps_wire,
    graph_from_wire,
    graph_merged,
    graph_wire,
    steps_from_wire,
    steps_wire,
)

SCHEMA = "gradtrace/1"
# Summaries of steps, edges and saved tensors list their values up to this many; a variable's
# up to 1,024 (capture/values.py). The live skeleton previews at most this many (kept.py).
PREVIEW_LIMIT = 64

# Diagnosis and error codes (the contract in DESIGN.md).
DIAGNOSIS_CODES = (
    "requires_grad_false", "non_leaf", "detached", "no_grad", "left_graph", "not_connected",
    "no_backward", "autograd_grad_only", "grad_cleared", "inplace_modified", "inplace_leaf",
    "graph_freed", "nonscalar_backward", "no_grad_fn", "timeout", "memory_limit", "output_limit",
    "syntax_error", "user_exception",
    # added by the doctor (docs/protocol.md)
    "requires_grad_disabled", "custom_function_none", "backward_failed", "cuda_unavailable",
    "gradcheck_precision", "non_differentiable",
)

Summary = dict  # a tensor summary from capture/values.py


def _with_file(out: dict, line) -> dict:
    """``out`` with ``file`` beside its line when that line is in another of the user's files
    than the recorded one (capture/source.py's FileLine; only code recorded in process has
    them)."""
    file = getattr(line, "file", None)
    if file is not None:
        out["file"] = file
    return out


@dataclass(slots=True)
class Node:
    """One autograd node. ``step`` is the forward step that created it; ``pass_`` the backward pass
    (create_graph) that created it, when no forward step did."""

    id: int
    kind: str  # "leaf" (AccumulateGrad), "op", "function" (custom autograd.Function), "output"
    name: str  # MulBackward0, AccumulateGrad, or the custom Function's class name
    op: str = ""  # the forward call that created it, e.g. "mul"
    line: int | None = None
    span: str = ""
    module: str | None = None
    step: int | None = None
    pass_: int | None = None
    label: str = ""  # the user's name for the tensor, or the source text of an unnamed one
    values: list[Summary | None] = field(default_factory=list)  # forward value per output slot
    saved: list[dict] | None = None  # saved tensors, snapshotted before backward frees them
    x: float = 0.0
    y: float = 0.0
    layer: int = 0  # the layout's column: the longest data-flow path reaching the node
    row: int = 0  # its place within the layer

    def to_json(self) -> dict:
        out = {
            "id": self.id, "kind": self.kind, "name": self.name, "op": self.op,
            "line": self.line, "span": self.span, "x": self.x, "y": self.y,
            "layer": self.layer, "row": self.row,
            "module": self.module, "step": self.step, "pass": self.pass_,
            "label": self.label, "values": self.values,
        }
        if self.saved is not None:
            out["saved"] = self.saved
        _with_file(out, self.line)
        return out


@dataclass(slots=True)
class Edge:
    """Data flows from ``src`` to ``dst``; gradients flow back from ``dst`` to ``src``. ``slot`` is
    the index in dst's next_functions; ``output_nr`` which output of src feeds it."""

    src: int
    dst: int
    slot: int
    output_nr: int

    def to_json(self) -> dict:
        return {"src": self.src, "dst": self.dst, "slot": self.slot, "output_nr": self.output_nr}


@dataclass(slots=True)
class Step:
    """One forward call, in execution order. ``kind`` is "op", "function" (a custom
    autograd.Function), "cut" (the value leaves the graph, or a new leaf enters from Python values),
    "set" (an attribute such as .grad or .data assigned) or "hook" (a module forward hook ran)."""

    index: int
    kind: str
    op: str
    line: int | None
    span: str
    grad_mode: str  # "grad", "no_grad" or "inference"
    module: str | None = None
    inputs: list[int] = field(default_factory=list)  # tensor ids
    outputs: list[int] = field(default_factory=list)  # tensor ids
    values: list[Summary] = field(default_factory=list)  # one per output
    nodes: list[int] = field(default_factory=list)  # autograd nodes this step created
    detail: dict | None = None  # kind-specific: the cut's Python value, the hook's target, ...

    def to_json(self) -> dict:
        out = {
            "index": self.index, "kind": self.kind, "op": self.op, "line": self.line,
            "span": self.span, "grad_mode": self.grad_mode, "module": self.module,
            "inputs": self.inputs, "outputs": self.outputs, "values": self.values,
            "nodes": self.nodes,
        }
        if self.detail is not None:
            out.update(self.detail)
        _with_file(out, self.line)
        return out


@dataclass(slots=True)
class BackwardStep:
    """One thing the engine did, in order: a node ran, or a tensor/module hook fired."""

    order: int
    node: int | None
    grad_in: list[Summary | None]  # gradients w.r.t. the node's forward outputs (arriving)
    grad_out: list[Summary | None]  # gradients w.r.t. its forward inputs (leaving, per edge slot)
    kind: str = "node"  # "node" or "hook"
    detail: dict | None = None  # leaves: grad_before/grad_after; hooks: hook, target, line

    def to_json(self) -> dict:
        out = {"order": self.order, "kind": self.kind, "node": self.node,
               "grad_in": self.grad_in, "grad_out": self.grad_out}
        if self.detail is not None:
            out.update(self.detail)
        return out


@dataclass(slots=True)
class Pass:
    """One backward run: ``.backward()``, ``torch.autograd.backward`` or ``torch.autograd.grad``."""

    index: int
    kind: str  # "backward" or "grad"
    line: int | None
    span: str
    after_step: int  # the index of the last forward step before it (-1 when none)
    roots: list[int]
    loss: float | str | None  # the root's value when it is a single number
    retain_graph: bool
    create_graph: bool
    steps: list[BackwardStep] = field(default_factory=list)
    created_nodes: list[int] = field(default_factory=list)  # nodes made by create_graph
    error: str | None = None  # set when the engine raised during this pass

    def header_json(self) -> dict:
        """What is known when the pass starts (the `pass` event)."""
        return _with_file({
            "index": self.index, "kind": self.kind, "line": self.line, "span": self.span,
            "after_step": self.after_step, "roots": self.roots, "loss": self.loss,
            "retain_graph": self.retain_graph, "create_graph": self.create_graph,
        }, self.line)

    def result_json(self) -> dict:
        """What the engine did (the `backward` event)."""
        return {"steps": [s.to_json() for s in self.steps], "created_nodes": self.created_nodes,
                "error": self.error}

    def to_json(self) -> dict:
        return {**self.header_json(), **self.result_json()}


@dataclass(slots=True)
class Variable:
    name: str
    line: int | None
    shape: list[int]
    dtype: str
    device: str
    requires_grad: bool
    is_leaf: bool
    value: Summary
    grad: Summary | None
    node: int | None = None  # its grad_fn, or the AccumulateGrad of a leaf
    retains_grad: bool = False
    tensor: int | None = None  # the id the steps' inputs and outputs know it by

    def to_json(self) -> dict:
        return {
            "name": self.name, "line": self.line, "shape": self.shape, "dtype": self.dtype,
            "device": self.device, "requires_grad": self.requires_grad, "is_leaf": self.is_leaf,
            "value": self.value, "grad": self.grad, "node": self.node,
            "retains_grad": self.retains_grad, "tensor": self.tensor,
        }


@dataclass(slots=True)
class Diagnostic:
    variable: str
    code: str
    line: int | None
    severity: str  # "error", "warning" or "info"
    message: str
    fix: str
    # a state the code meant, told once for all who share it: an input or target that needs no
    # gradient, an intermediate, a gradient zero_grad cleared, a run stopped before its end
    expected: bool = False

    def to_json(self) -> dict:
        return {"variable": self.variable, "code": self.code, "line": self.line,
                "severity": self.severity, "message": self.message, "fix": self.fix,
                "expected": self.expected}


@dataclass(slots=True)
class ErrorInfo:
    type: str
    message: str
    line: int | None
    code: str
    cause_line: int | None = None

    def to_json(self) -> dict:
        return {"type": self.type, "message": self.message, "line": self.line,
                "code": self.code, "cause_line": self.cause_line}


@dataclass(slots=True)
class PassLog:
    """Every pass's loss, and which passes kept their full record (loops keep first and last N)."""

    total: int = 0
    kept: list[int] = field(default_factory=list)
    losses: list[Any] = field(default_factory=list)
    why: list[str] = field(default_factory=list)  # per kept pass: first, sample, last, ...

    def to_json(self) -> dict:
        return {"total": self.total, "kept": self.kept, "skipped": self.total - len(self.kept),
                "losses": self.losses, "why": self.why}


@dataclass(slots=True)
class Trace:
    device: str = "cpu"
    variables: list[Variable] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    passes: list[Pass] = field(default_factory=list)
    pass_log: PassLog = field(default_factory=PassLog)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    error: ErrorInfo | None = None
    stdout: str = ""
    skipped_steps: int = 0  # forward steps dropped with the passes a loop skipped
    modules: dict[str, str] = field(default_factory=dict)  # module path -> class name
    seed: int | None = 0  # what torch, random and numpy were seeded with; None: left unseeded
    threads: int = 1  # torch's threads: sums over many threads add up in another order


def graph_json(nodes: list[Node], edges: list[Edge], modules: dict[str, str]) -> dict:
    return {"nodes": [n.to_json() for n in nodes], "edges": [e.to_json() for e in edges],
            "modules": used_modules(nodes, modules)}


def used_modules(nodes: list[Node], modules: dict[str, str]) -> dict[str, str]:
    """The class of each module (or module call: ``netD#2``) that holds a node, or holds one
    that does."""
    used = {}
    for path in {n.module for n in nodes if n.module}:
        parts = path.split(".")
        for k in range(1, len(parts) + 1):
            inner = ".".join(parts[:k])
            cls = modules.get(module_of_call(inner))
            if cls is not None:
                used[inner] = cls
    return dict(sorted(used.items()))


# Events: the live form of the document. Each is {type, ...}; applied in order by rebuild() they
# give back the document. "end" is the worker's last event (it concluded); "done" is added by the
# server. Neither carries any part of the document.
EVENT_TYPES = ("start", "forward", "cut", "pass", "backward", "progress", "graph", "stdout",
               "variables", "diagnostics", "pass_log", "error", "end", "done")


# One constructor per event type. A value that is an object with ``to_json`` or a callable is
# turned into JSON when the event is written (capture/stream.py), not when it is made.

def start_event(device: str, seed: int | None = 0, threads: int = 1) -> dict:
    return {"type": "start", "schema": SCHEMA, "device": device, "seed": seed,
            "threads": threads}


class StepBatch(list):
    """Consecutive forward steps, sent as one columnar event (EventStream merges them)."""

    def to_json(self) -> dict:
        return steps_wire(self)


def step_event(step: Step) -> dict:
    if step.kind == "cut":  # cuts are few, and the doctor's evidence: one event each
        return {"type": "cut", "step": step}
    return {"type": "forward", "steps": StepBatch([step])}


def graph_event(nodes: list[Node], edges: list[Edge], steps: list[Step],
                modules: dict[str, str]) -> dict:
    """``steps``: those the receiver holds when this event arrives (its node values refer to
    them). ``modules``: module path -> class name."""
    return {"type": "graph",
            "graph": lambda: graph_wire(nodes, edges, steps, used_modules(nodes, modules))}


def pass_event(record: Pass) -> dict:
    return {"type": "pass", "pass": record.header_json}


def backward_event(record: Pass) -> dict:
    return {"type": "backward", "index": record.index, "result": lambda: {
        "steps": backward_steps_wire(record.steps), "created_nodes": record.created_nodes,
        "error": record.error}}


def progress_event(pass_index: int, loss) -> dict:
    """A pass not kept in full: its loss, for the page's progress and loss chart."""
    return {"type": "progress", "losses": [[pass_index, loss]]}


def stdout_event(text: str, step: int | None = None, passes: int | None = None) -> dict:
    """What the snippet printed; ``step`` and ``passes``: how many forward steps and backward
    passes had begun by then, so that the page shows output as of the frame it plays."""
    event = {"type": "stdout", "text": text}
    if step is not None:
        event["step"], event["passes"] = step, passes
    return event


def variables_event(variables: list[Variable]) -> dict:
    return {"type": "variables", "variables": lambda: [v.to_json() for v in variables]}


def diagnostics_event(diagnostics: list[Diagnostic]) -> dict:
    return {"type": "diagnostics", "diagnostics": lambda: [d.to_json() for d in diagnostics]}


def pass_log_event(log: PassLog, skipped_steps: int) -> dict:
    return {"type": "pass_log", "pass_log": log, "skipped_steps": skipped_steps}


def error_event(error: ErrorInfo | dict) -> dict:
    return {"type": "error", "error": error}


def end_event() -> dict:
    return {"type": "end"}


def done_event(status: str, duration_ms: int) -> dict:
    return {"type": "done", "status": status, "duration_ms": duration_ms}


def queued_event(position: int) -> dict:
    return {"type": "queued", "position": position}


def rejected_event(message: str) -> dict:
    return {"type": "rejected", "message": message}


def conclusion_events(trace: Trace) -> list[dict]:
    """What is only known when the snippet has ended: the final graph, the variables, the
    diagnoses, the pass log and the error. Steps and passes went out as they happened."""
    events = [graph_event(trace.nodes, trace.edges, trace.steps, trace.modules),
              variables_event(trace.variables),
              diagnostics_event(trace.diagnostics),
              pass_log_event(trace.pass_log, trace.skipped_steps)]
    if trace.error:
        events.append(error_event(trace.error))
    return events


def rebuild(events) -> dict:
    """The trace document that a run's events describe. Only the last graph is decoded (a run
    sends one before its first pass and the final one at the end)."""
    doc = document(Trace())
    passes: dict[int, dict] = {}
    whole = None  # the latest graph, whole: a graph event may be a difference from it

    for event in events:
        kind = event["type"]
        if kind == "start":
            doc["device"] = event["device"]
            doc["seed"], doc["threads"] = event.get("seed"), event.get("threads", 1)
        elif kind == "forward":
            doc["steps"].extend(steps_from_wire(event["steps"]))
        elif kind == "cut":
            doc["steps"].append(event["step"])
        elif kind == "pass":
            passes[event["pass"]["index"]] = {**event["pass"], "steps": [], "created_nodes": [],
                                               "error": None}
        elif kind == "backward" and event["index"] in passes:  # a forged index names none
            result = event["result"]
            passes[event["index"]].update(result, steps=backward_steps_from_wire(result["steps"]))
        elif kind == "stdout":
            doc["stdout"] += event["text"]
        elif kind == "pass_log":
            doc["pass_log"], doc["skipped_steps"] = event["pass_log"], event["skipped_steps"]
        elif kind == "graph":
            whole = graph_merged(whole, event["graph"])
        elif kind in ("variables", "diagnostics", "error"):
            doc[kind] = event[kind]
    if whole is not None:
        doc["graph"] = graph_from_wire(whole, doc["steps"])
    doc["passes"] = [passes[i] for i in sorted(passes)]
    return doc


def document(trace: Trace) -> dict:
    """The trace document: plain JSON-ready data."""
    return {
        "schema": SCHEMA,
        "device": trace.device,
        "seed": trace.seed,
        "threads": trace.threads,
        "variables": [v.to_json() for v in trace.variables],
        "graph": graph_json(trace.nodes, trace.edges, trace.modules),
        "steps": [s.to_json() for s in trace.steps],
        "skipped_steps": trace.skipped_steps,
        "passes": [p.to_json() for p in trace.passes],
        "pass_log": trace.pass_log.to_json(),
        "diagnostics": [d.to_json() for d in trace.diagnostics],
        "error": trace.error.to_json() if trace.error else None,
        "stdout": trace.stdout,
    }
