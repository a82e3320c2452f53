"""The state of one capture: steps, graph, passes and tensor identities, filled while the snippet
runs. forward.py, backward.py and hooks.py write into it; run.py turns it into a Trace.
"""

from __future__ import annotations

import bisect
import contextlib
import weakref
from dataclasses import dataclass

import torch

from gradtrace.capture.batch import SummaryBatch
from gradtrace.capture.graph import Graph
from gradtrace.capture.source import SourceMap
from gradtrace.capture.values import describe
from gradtrace.layout import layout
from gradtrace.protocol import Pass, Step, drop_event, graph_event, pass_event, step_event

# Ops whose outputs hold whatever was in memory: summaries of them would be noise, and not
# repeatable.
_UNINITIALIZED = frozenset({"empty", "empty_like", "empty_strided", "new_empty",
                            "new_empty_strided"})


@dataclass
class CaptureConfig:
    head_passes: int = 10  # full records kept for the first N backward passes ...
    tail_passes: int = 10  # ... and for the last N; the ones between keep only their loss
    max_cut_values: int = 10_000  # Python values remembered to spot data re-entering the graph
    max_nodes: int = 200_000  # a run whose graph grows past this is stopped (memory_limit)


class RunStopped(BaseException):
    """The run's time is up. Raised into the snippet (never into gradtrace's own bookkeeping) so
    that it unwinds and capture concludes with what was recorded. A BaseException, so that a
    snippet's ``except Exception`` does not swallow it."""


class TensorTable:
    """Stable small ids for tensors. Weak references notice when an id() is reused."""

    def __init__(self):
        self._by_id: dict[int, tuple[int, weakref.ref]] = {}
        self._count = 0
        self._outputs: dict[int, tuple[int, int, int]] = {}  # tid -> (step, position, version)

    def id_of(self, t: torch.Tensor) -> int:
        entry = self._by_id.get(id(t))
        if entry is not None and entry[1]() is t:
            return entry[0]
        tid = self._count
        self._count += 1
        self._by_id[id(t)] = (tid, weakref.ref(t))
        return tid

    def output_id(self, t: torch.Tensor, step: int, position: int) -> int:
        """The id of a step's output; remembers the step, and the tensor's version then."""
        tid = self.id_of(t)
        self._outputs[tid] = (step, position, t._version)
        return tid

    def recorded_value(self, t: torch.Tensor) -> dict | None:
        """Where the trace already holds ``t``'s current value: the step output that made it,
        unless it was modified in place since."""
        tid = self.find(t)
        found = self._outputs.get(tid) if tid is not None else None
        if found is None or found[2] != t._version:
            return None
        return {"step": found[0], "output": found[1]}

    def find(self, t: torch.Tensor) -> int | None:
        entry = self._by_id.get(id(t))
        return entry[0] if entry is not None and entry[1]() is t else None


class Session:
    """Everything recorded so far in one run."""

    def __init__(self, source: SourceMap, config: CaptureConfig | None = None):
        self.source = source
        self.config = config or CaptureConfig()
        self.summaries = SummaryBatch()
        self.tensors = TensorTable()
        self.graph = Graph(self.summaries, self.tensors, self.config.max_nodes)
        self.steps: list[Step] = []
        self.step_count = 0
        self.suspended = 0  # > 0 while running code whose torch calls are not the snippet's own
        self.recording = False  # the snippet is running: a stop may be raised into it
        self.stop_message: str | None = None  # set when the run must stop (its time is up)
        self.module_stack: list[str] = []
        self.passes: list[Pass] = []  # passes with full records (head and tail)
        self.pass_count = 0
        self.losses: list = []
        self.pass_kinds: set[str] = set()
        self.executed_nodes: set[int] = set()  # nodes some pass ran, dropped passes included
        self.pass_events: list | None = None  # the running pass's engine events, for hooks.py
        self.dropped_steps: set[int] = set()
        self._segments: dict[int, tuple[int, int]] = {}  # pass index -> its forward steps
        self.namespace: dict = {}
        self.stream = None  # an EventStream when the run is watched live
        self.graph_sent = False
        self.module_paths: dict[int, str] = {}
        self._cut_values: dict[int, tuple[object, int]] = {}

    @contextlib.contextmanager
    def suspend(self):
        """Run gradtrace's own code: its torch calls are not the snippet's steps, and a stop waits
        until it is done (then it is raised here, into the snippet)."""
        self.suspended += 1
        try:
            yield
        finally:
            self.suspended -= 1
        self.stop_if_requested()

    def request_stop(self, message: str) -> None:
        """From a signal handler: end the snippet now, or as soon as gradtrace's own code that it
        interrupted is done."""
        self.stop_message = message
        self.stop_if_requested()

    def stop_if_requested(self) -> None:
        if (self.stop_message is not None and self.recording and not self.suspended
                and not (self.stream is not None and self.stream.busy)):
            raise RunStopped(self.stop_message)

    def flush_summaries(self) -> bool:
        """Fill pending summaries; False when a flush is already under way (we were called from
        a signal handler that interrupted it), so the caller tries again later."""
        if self.summaries.busy:
            return False
        with self.suspend():  # the reductions are torch calls, not the snippet's
            self.summaries.flush()
        return True

    def emit(self, event: dict, urgent: bool = False) -> None:
        if self.stream is not None:
            self.stream.push(event, urgent)

    # -- forward steps ---------------------------------------------------------------------------

    def add_step(self, kind, op, line, span, inputs, outputs, detail=None) -> Step:
        with self.suspend():  # summaries call torch too: they are not the snippet's steps
            return self._add_step(kind, op, line, span, inputs, outputs, detail)

    def _add_step(self, kind, op, line, span, inputs, outputs, detail) -> Step:
        index = self.step_count
        self.step_count += 1
        tensors = self.tensors
        if op in _UNINITIALIZED:
            values = [describe(t, "uninitialized") for t in outputs]
        else:
            values = [self.summaries.of(t) for t in outputs]
        step = Step(
            index=index, kind=kind, op=op, line=line, span=span, grad_mode=_grad_mode(),
            module=self.module_stack[-1] if self.module_stack else None,
            inputs=[tensors.id_of(t) for t in inputs],
            outputs=[tensors.output_id(t, index, i) for i, t in enumerate(outputs)],
            values=values, detail=detail,
        )
        roots = [t.grad_fn for t in outputs if t.grad_fn is not None]
        if roots:
            new = self.graph.discover(roots, step=index)
            self._describe_new_nodes(new, step)
            for t, value in zip(outputs, values, strict=True):
                rec = self.graph.get(t.grad_fn)
                if rec is not None and rec.node.step == index:
                    _set_slot(rec.node.values, t.output_nr, value)
        self.steps.append(step)
        self.emit(step_event(step))
        return step

    def _describe_new_nodes(self, records, step: Step) -> None:
        for rec in records:
            node = rec.node
            node.op, node.line, node.span, node.module = step.op, step.line, step.span, step.module
            step.nodes.append(node.id)
            if rec.variable is not None:  # a leaf belongs to where it was made, not first used
                node.module = None
                node.values = [self.summaries.of(rec.variable)]

    # -- graph cuts ------------------------------------------------------------------------------

    def remember_cut_value(self, value) -> None:
        """Remember a Python value that left the graph, so a tensor built from it can be traced."""
        if len(self._cut_values) < self.config.max_cut_values:
            self._cut_values[id(value)] = (value, self.step_count)

    def cut_origin(self, data) -> int | None:
        """The cut step whose Python value ``data`` is (or contains), if any."""
        items = data if isinstance(data, list | tuple) else [data]
        for item in items[:64]:
            found = self._cut_values.get(id(item))
            if found is not None and found[0] is item:
                return found[1]
        return None

    # -- modules ---------------------------------------------------------------------------------

    def module_path(self, module) -> str:
        path = self.module_paths.get(id(module))
        if path is None:
            self._index_modules()
            path = self.module_paths.setdefault(id(module), type(module).__name__)
        return path

    def _index_modules(self) -> None:
        for name, value in list(self.namespace.items()):
            if isinstance(value, torch.nn.Module):
                for sub_name, sub in value.named_modules():
                    path = f"{name}.{sub_name}" if sub_name else name
                    self.module_paths.setdefault(id(sub), path)

    # -- passes ----------------------------------------------------------------------------------

    def announce_pass(self, record: Pass) -> None:
        """A pass is starting: the graph it runs on goes out first (once), then the pass."""
        if self.stream is None:
            return
        if not self.graph_sent:
            self.graph_sent = True
            nodes = [rec.node for rec in self.graph.records]
            edges = list(self.graph.edges)
            layout(nodes, edges)
            self.emit(graph_event(nodes, edges))
        self.emit(pass_event(record), urgent=True)

    def keep_pass(self, record: Pass, segment: tuple[int, int]) -> None:
        """Keep the first and last N passes in full. A pass that falls out of the tail takes the
        forward steps of its segment (first and last step index since the pass before it) along."""
        self.passes.append(record)
        self._segments[record.index] = segment
        head, tail = self.config.head_passes, self.config.tail_passes
        tail_records = [p for p in self.passes if p.index >= head]
        if len(tail_records) <= tail:
            return
        dropped = tail_records[0]
        self.passes.remove(dropped)
        start, end = self._segments.pop(dropped.index)
        self.dropped_steps.update(range(start, end + 1))
        lo = bisect.bisect_left(self.steps, start, key=lambda s: s.index)
        hi = bisect.bisect_right(self.steps, end, key=lambda s: s.index)
        del self.steps[lo:hi]
        self.emit(drop_event(dropped.index, start, end))


def _grad_mode() -> str:
    if torch.is_inference_mode_enabled():
        return "inference"
    return "grad" if torch.is_grad_enabled() else "no_grad"


def _set_slot(values: list, slot: int, value) -> None:
    while len(values) <= slot:
        values.append(None)
    values[slot] = value
