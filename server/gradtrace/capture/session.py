"""The state of one capture: steps, graph, passes and tensor identities, filled while the snippet
runs. forward.py, backward.py and hooks.py write into it; run.py turns it into a Trace.
"""

from __future__ import annotations

import bisect
import contextlib
import weakref
from dataclasses import dataclass

import torch

from gradtrace.capture import names
from gradtrace.capture.batch import SummaryBatch
from gradtrace.capture.cuts import COPYING
from gradtrace.capture.graph import Graph, GraphTooLarge
from gradtrace.capture.passes import LEAN_ELEMENTS, LeanPass, Ring
from gradtrace.capture.source import SourceMap
from gradtrace.capture.values import describe
from gradtrace.drawing.layout import layout
from gradtrace.trace.passplan import keep_reason
from gradtrace.trace.protocol import Pass, Step, graph_event, pass_event, progress_event, step_event

# Ops whose outputs hold whatever was in memory: summaries of them would be noise, and not
# repeatable.
_UNINITIALIZED = frozenset({"empty", "empty_like", "empty_strided", "new_empty",
                            "new_empty_strided"})
# Recorded calls hold their outputs alive until the next flush: at most this many elements.
_PENDING_ELEMENTS = 4_000_000


@dataclass
class CaptureConfig:
    head_passes: int = 10  # full records for the first N backward passes ...
    tail_passes: int = 10  # ... and the last N; the ones between keep only their loss ...
    sample_passes: bool = True  # ... but for a sparse sample (passes 15, 31, 63, ...) ...
    every_pass: int = 0  # ... each Nth pass (0: none) ...
    asked_passes: frozenset = frozenset()  # ... and these (capture/passes.py)
    max_cut_values: int = 10_000  # Python values remembered to spot data re-entering the graph
    max_nodes: int = 200_000  # a run whose graph grows past this is stopped (memory_limit)
    pending_steps: int = 1024  # recorded calls held before they become steps (1: at once)
    watch_every_edge: bool = False  # post-hook every node (slower; checks backward's shortcut)
    graph_before_passes: bool = True  # stream the graph before the first pass, not only at the end
    gpu_memory_mb: int = 0  # the run's GPU memory cap, which an out-of-memory error names


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

    def output_id(self, t: torch.Tensor, step: int, position: int, changed: bool = False) -> int:
        """The id of a step's output; remembers the step, and the tensor's version then (none
        when it has ``changed`` in place since the step made it)."""
        tid = self.id_of(t)
        self._outputs[tid] = (step, position, None if changed else version_of(t))
        return tid

    def recorded_value(self, t: torch.Tensor) -> dict | None:
        """Where the trace already holds ``t``'s current value: the step output that made it,
        unless it was modified in place since."""
        tid = self.find(t)
        found = self._outputs.get(tid) if tid is not None else None
        if found is None or found[2] is None or found[2] != version_of(t):
            return None
        return {"step": found[0], "output": found[1]}

    def find(self, t: torch.Tensor) -> int | None:
        entry = self._by_id.get(id(t))
        return entry[0] if entry is not None and entry[1]() is t else None

    def made_by(self, tid: int) -> int | None:
        """The index of the step whose output ``tid`` is, if one is."""
        found = self._outputs.get(tid)
        return found[0] if found is not None else None

    def alive(self) -> dict[int, torch.Tensor]:
        """tid -> the tensor, for the tensors still alive (for the doctor, once per run)."""
        found = {}
        for tid, ref in self._by_id.values():
            t = ref()
            if t is not None:
                found[tid] = t
        return found


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
        self.stop_message: str | None = None  # set when the run must stop ...
        self.stop_code = "timeout"  # ... because its time is up, or "memory_limit"
        self.stop_line: int | None = None  # the line that crossed a limit, when known
        self.module_stack: list[str] = []  # the module calls running: their call paths
        self._module_frames: list[tuple[str, dict]] = []  # ... each's module path, and the
        # calls of each module made inside it so far; at the top level, the run's:
        self._module_calls: dict[str, int] = {}
        self.passes: list[Pass] = []  # passes with full records, in order
        self.pass_count = 0
        self.losses: list = []
        # Why the coming pass is kept in full, or None: it is recorded lean (capture/passes.py)
        self.keeping: str | None = keep_reason(self.config, 0)
        self.kept_why: dict[int, str] = {}  # pass index -> why it was kept
        self.ring = Ring(self.config.tail_passes)
        self._held: dict[int, list] = {}  # id(tensor) -> the lean records that output it
        self._written: dict[int, dict[int, torch.Tensor]] = {}  # step -> position -> its value
        # before an in-place change, for lean records (a full flush happens before it instead)
        self.pass_kinds: set[str] = set()
        self.executed_nodes: set[int] = set()  # nodes some pass ran, dropped passes included
        self.pass_events: list | None = None  # the running pass's engine events, for hooks.py
        self.failed_roots: list = []  # what the last pass that raised was called on (doctor)
        self.none_grad_reads: dict = {}  # id(tensor) -> (its weakref, the first line read None)
        self.no_grad_line: int | None = None  # where the snippet turned grad off (grad_mode.py)
        self._step_lines: dict[int, int | None] | None = None  # step index -> line (made_on)
        self.user_grad_hooks = False  # a tensor or module backward hook may change gradients
        self.namespace: dict = {}
        self.stream = None  # an EventStream when the run is watched live
        self.graph_sent = False
        self.laid_out: tuple = ()  # _layout_key of the whole graph when it was last laid out
        self.module_paths: dict[int, str] = {}
        # path -> class name, for modules whose forward is not the snippet's code (Linear, ReLU):
        # their ops have no source of their own to name them, so the module call names them
        self.library_modules: dict[str, str] = {}
        self.module_classes: dict[str, str] = {}  # path -> class name, every module named
        self._cut_values: dict[int, tuple[object, int]] = {}
        self._pending: list[tuple] = []  # recorded calls not yet turned into steps
        self._pending_elements = 0
        self._lost = False  # the running lean pass outgrew what may be held: it is not kept
        self._flushing = False

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

    def request_stop(self, message: str, code: str = "timeout", line: int | None = None) -> None:
        """From a signal handler (or a flush): end the snippet now, or as soon as gradtrace's own
        code that it interrupted is done."""
        if self.stop_message is None:
            self.stop_message, self.stop_code, self.stop_line = message, code, line
        self.stop_if_requested()

    def stop_if_requested(self) -> None:
        if (self.stop_message is not None and self.recording and not self.suspended
                and not (self.stream is not None and self.stream.busy)):
            raise RunStopped(self.stop_message)

    def flush(self) -> bool:
        """Turn the recorded calls into steps, and fill every pending summary. False when a flush
        is already under way (a signal handler interrupted it), so the caller tries again later.
        A lean pass's calls stay references: nothing of it goes out unless it is kept."""
        if self._flushing or self.summaries.busy:
            return False
        if self.keeping is None:
            return True
        self._flushing = True
        try:
            with self.suspend():  # summaries and discovery call torch: not the snippet's steps
                with torch.no_grad():
                    pending, self._pending, self._pending_elements = self._pending, [], 0
                    try:
                        for raw in pending:
                            self._add_step(*raw)
                    except GraphTooLarge as exc:  # the steps after it are dropped
                        self.request_stop(str(exc), "memory_limit", raw[3])
                    self.summaries.flush()
        finally:
            self._flushing = False
        return True

    def before_write(self, targets, alias_only: bool = False) -> None:
        """A call may change ``targets`` in place (or hand their memory to numpy): the recorded
        steps that output them must keep their values from before. A kept pass flushes; a lean
        one copies just the targets it holds (rarely any: the parameters a loop updates were made
        before it). An alias (``.data``) is written through calls that come here themselves, so a
        kept pass waits for them; a lean pass, which finds records by identity, copies now."""
        if self.keeping is not None:
            if not alias_only:
                self.flush()
            return
        for t in targets:
            key, copy = id(t), None
            for held in [self._held, *(lean.held for lean in self.ring.passes)]:
                for raw in held.pop(key, ()):  # once copied, a record needs no more copies
                    for position, out in enumerate(raw[8]):
                        if out is t:
                            if copy is None:
                                copy = t.detach().clone()
                            self._written.setdefault(raw[0], {}).setdefault(position, copy)

    @property
    def pending_steps(self) -> int:
        return len(self._pending)

    @property
    def holding(self) -> bool:
        """Whether recorded calls (pending, or of parked lean passes) hold tensors whose values
        an in-place write would change (before_write)."""
        return bool(self._pending or self.ring.passes)

    def emit(self, event: dict, urgent: bool = False) -> None:
        if self.stream is not None:
            self.stream.push(event, urgent)

    # -- forward steps ---------------------------------------------------------------------------

    def record(self, kind, op, line, span, inputs, outputs, detail=None) -> None:
        """The hot path: keep what cannot be recovered later (the tensors, the grad_fns they have
        now, the grad mode and module) and defer the rest to flush(). The recorders
        flush before anything changes a recorded tensor in place, so a step's summaries are
        still the values it produced."""
        index = self.step_count
        if self._lost:  # a lean pass too big to keep: its calls are only counted
            self.step_count = index + 1
            self.ring.dropped_steps += 1
            return
        grad_mode = "grad" if torch.is_grad_enabled() else _grad_mode()
        if grad_mode != "grad" and self.no_grad_line is not None and kind == "op":
            detail = _no_grad_cut(grad_mode, self.no_grad_line, inputs, outputs)
        raw = (index, kind, op, line, span, grad_mode,
               self.module_stack[-1] if self.module_stack else None, inputs, outputs,
               [t.grad_fn for t in outputs], detail)
        self._pending.append(raw)
        self.step_count = index + 1  # after the append: a timer's flush sees whole records
        if self.keeping is None:
            held = self._held
            for t in outputs:
                self._pending_elements += t.numel()
                held.setdefault(id(t), []).append(raw)
            if self._pending_elements > LEAN_ELEMENTS:  # too big to hold until its end: its
                self._give_up_lean_segment()  # records go, and it keeps only its loss
        else:
            for t in outputs:
                self._pending_elements += t.numel()
            if (len(self._pending) >= self.config.pending_steps
                    or self._pending_elements > _PENDING_ELEMENTS):
                self.flush()  # the held outputs are bounded in count and size

    def _add_step(self, index, kind, op, line, span, grad_mode, module, inputs, outputs,
                  grad_fns, detail) -> None:
        tensors = self.tensors
        written = self._written.pop(index, {})  # outputs changed in place since: their copies
        if op in _UNINITIALIZED:
            values = [describe(t, "uninitialized") for t in outputs]
        else:
            values = [self.summaries.of(written.get(i, t), hold=True)
                      for i, t in enumerate(outputs)]
        if (detail is None and kind == "op" and grad_mode == "grad" and op not in COPYING
                and not _takes_shape_only(op) and _gives_no_gradient(inputs, outputs, grad_fns)):
            detail = {"cut": op}  # argmax, a comparison, an integer cast: the path ends here
        if detail is not None and "cut" in detail and inputs:
            cut = next((t for t in inputs if t.requires_grad), inputs[0])
            source = self.graph.get(cut.grad_fn) if cut.grad_fn is not None else None
            if source is not None:  # the node the value was cut from
                detail["cut_node"] = source.node.id
        step = Step(
            index=index, kind=kind, op=op, line=line, span=span, grad_mode=grad_mode,
            module=module, inputs=[tensors.id_of(t) for t in inputs],
            outputs=[tensors.output_id(t, index, i, changed=i in written)
                     for i, t in enumerate(outputs)],
            values=values, detail=detail,
        )
        roots = [fn for fn in grad_fns if fn is not None]
        if roots:
            graph = self.graph
            self._describe_new_nodes(graph.discover(roots, step=index), step)
            for t, fn, value in zip(outputs, grad_fns, values, strict=True):
                rec = graph.get(fn) if fn is not None else None
                if rec is not None and rec.node.step == index:
                    _set_slot(rec.node.values, t.output_nr, value)
        self.steps.append(step)
        if self.stream is not None:
            self.stream.push(step_event(step))

    def _describe_new_nodes(self, records, step: Step) -> None:
        for rec in records:
            node = rec.node
            node.op, node.line, node.span, node.module = step.op, step.line, step.span, step.module
            step.nodes.append(node.id)
            if rec.variable is not None:  # a leaf belongs to where it was made, not first used
                node.module = None
                node.values = [self.graph.value_summary(rec.variable)]
                made = self._step_that_made(rec.variable)
                if made is not None:  # `torch.randn(3, requires_grad=True)`, not the `.to()`
                    node.op, node.line, node.span = made.op, made.line, made.span  # after it

    def _step_that_made(self, t) -> Step | None:
        """The recorded step whose output ``t`` is, if it is one already made into a step."""
        tid = self.tensors.find(t)
        index = self.tensors.made_by(tid) if tid is not None else None
        if index is None:
            return None
        k = bisect.bisect_left(self.steps, index, key=lambda step: step.index)
        return self.steps[k] if k < len(self.steps) and self.steps[k].index == index else None

    def made_on(self, t) -> int | None:
        """The line of the recorded step that made ``t`` (names.bound_at)."""
        tid = self.tensors.find(t)
        index = self.tensors.made_by(tid) if tid is not None else None
        if index is None:
            return None
        if self._step_lines is None or len(self._step_lines) != len(self.steps):
            self._step_lines = {s.index: s.line for s in self.steps}
        return self._step_lines.get(index)

    def read_none_grad(self, t) -> None:
        """The snippet (or an optimizer it called) read ``t.grad`` and found None. Kept by the
        tensor itself: giving it an id now would number tensors differently from a run that
        records the same steps later (the ids go in the trace)."""
        if id(t) not in self.none_grad_reads:
            self.none_grad_reads[id(t)] = (weakref.ref(t), self.source.locate(2)[0])

    def none_grad_read_at(self, t) -> int | None | bool:
        """The first line where ``t.grad`` was read as None (None if the line is unknown), or
        False if it never was."""
        found = self.none_grad_reads.get(id(t))
        return found[1] if found is not None and found[0]() is t else False

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

    def enter_module(self, module) -> None:
        """A module call starts. Its ops belong to the call, not just the module: the n-th call of
        ``netD`` is ``netD#n`` (the first plain ``netD``), and a module it calls is inside that
        call (``netD#2.main.0``). A module called three times is three boxes, each wired to what
        that call consumed and produced. Calls are counted per caller's call (a frame's counts
        go with it), and at the top level for the whole run."""
        static = self.module_path(module)
        stack, frames = self.module_stack, self._module_frames
        if frames and static.startswith(frames[-1][0] + "."):
            path, calls = stack[-1] + static[len(frames[-1][0]):], frames[-1][1]
        else:
            path, calls = static, self._module_calls
        n = calls[path] = calls.get(path, 0) + 1
        stack.append(path if n == 1 else f"{path}#{n}")
        frames.append((static, {}))

    def leave_module(self) -> None:
        if self.module_stack:
            self.module_stack.pop()
            self._module_frames.pop()

    def leave_all_modules(self) -> None:
        self.module_stack.clear()
        self._module_frames.clear()

    def module_path(self, module) -> str:
        path = self.module_paths.get(id(module))
        if path is None:
            self._index_modules()
            path = self.module_paths.get(id(module))
            if path is None:
                path = self._name_module(module, type(module).__name__)
        return path

    def _index_modules(self) -> None:
        for name, module in names.top_level_modules(self.namespace):
            for sub_name, sub in module.named_modules():
                if id(sub) not in self.module_paths:
                    self._name_module(sub, f"{name}.{sub_name}" if sub_name else name)

    def _name_module(self, module, path: str) -> str:
        self.module_paths[id(module)] = path
        cls = type(module)
        self.module_classes[path] = cls.__name__
        code = getattr(cls.forward, "__code__", None)
        if code is None or not self.source.owns(code.co_filename):
            self.library_modules[path] = cls.__name__
        return path

    # -- passes ----------------------------------------------------------------------------------

    def announce_pass(self, record: Pass) -> None:
        """A pass is starting: the graph it runs on goes out first (once), then the pass."""
        if self.stream is None:
            return
        if not self.graph_sent and self.config.graph_before_passes:
            self.graph_sent = True
            names.place_parameters(self.namespace, self.graph)  # the layout groups by module
            nodes = [rec.node for rec in self.graph.records]
            edges = list(self.graph.edges)
            layout(nodes, edges)
            self.laid_out = _layout_key(nodes, edges)
            labelled = names.label_early(self.namespace, self.graph, self.library_modules)
            self.emit(graph_event(nodes, edges, list(self.steps), self.module_classes))
            self.emit(pass_event(record), urgent=True)  # (sends the graph, with those labels)
            for node in labelled:
                node.label = ""
            return
        self.emit(pass_event(record), urgent=True)

    def take_lean_segment(self) -> LeanPass | None:
        """A lean pass's backward is starting: its forward's recorded calls leave the pending
        list for a LeanPass; None when they are not kept (too big, or no last passes wanted)."""
        if not self.ring.size:
            self._give_up_lean_segment()
        if self._lost:
            return None
        lean = LeanPass(self._pending, self._held, self._pending_elements)
        self._pending, self._held, self._pending_elements = [], {}, 0
        return lean

    def end_pass(self, record: Pass, lean: LeanPass | None) -> None:
        """Keep a full pass, or park a lean one among the last few; then decide how the next pass
        is recorded. A pass kept outright overtakes the lean ones parked before it: they go, so
        that the kept passes stay in order."""
        if self.keeping is not None:
            self.passes.append(record)
            self.kept_why[record.index] = self.keeping
        else:
            if lean is not None:
                self.ring.add(lean)
            self.emit(progress_event(record.index, record.loss))
        self._lost = False
        self.keeping = keep_reason(self.config, self.pass_count)
        if self.keeping is not None:
            self.ring.clear()
        first = self.ring.passes[0].steps[0] if self.ring.passes else self.step_count
        if self._written and min(self._written) < first:  # copies for records dropped since
            self._written = {k: v for k, v in self._written.items() if k >= first}

    def _give_up_lean_segment(self) -> None:
        self.ring.dropped_steps += len(self._pending)
        self._pending, self._held, self._pending_elements = [], {}, 0
        self._lost = True

    def take_pending(self) -> list:
        pending, self._pending, self._pending_elements = self._pending, [], 0
        return pending

    def restore_pending(self, pending: list) -> None:
        self._pending = pending

    def lean_passes(self) -> list[LeanPass]:
        """The run is over: the lean passes still parked are its last ones. The session keeps
        from now on, so flushing their records makes them steps."""
        self.keeping = "last"
        return self.ring.take()

    def layout_is_current(self, nodes: list, edges: list) -> bool:
        """Whether these are the whole graph as it was last laid out, in the same modules (the
        graph only grows, so equal counts are the same nodes and edges)."""
        whole = (self.graph.size, len(self.graph.edges))
        return (len(nodes), len(edges)) == whole and _layout_key(nodes, edges) == self.laid_out


def _layout_key(nodes: list, edges: list) -> tuple:
    """What a layout depends on beyond the node and edge sets: the modules nodes belong to."""
    return len(nodes), len(edges), hash(tuple(n.module for n in nodes))


def _gives_no_gradient(inputs, outputs, grad_fns) -> bool:
    """Whether an op run with gradients on made an output with no gradient path to an input
    that requires one: its result is an index, a comparison or an integer."""
    return any(fn is None and not t.requires_grad
               for t, fn in zip(outputs, grad_fns, strict=True)) and any(
        t.requires_grad for t in inputs)


def _takes_shape_only(op: str) -> bool:
    """An op that takes only an input's shape, dtype or device, not its values (zeros_like,
    new_ones): nothing left the graph."""
    return op.endswith("_like") or op.startswith("new_")


def _no_grad_cut(grad_mode: str, line: int, inputs, outputs) -> dict | None:
    """A step the snippet's own no_grad (or inference mode) block ran on a tensor that requires
    grad cut its result from the graph; an in-place update of that tensor (`w -= lr * w.grad`)
    is no cut."""
    if not any(t.requires_grad for t in inputs) or any(
            o is t for o in outputs for t in inputs):
        return None
    return {"cut": "no_grad" if grad_mode == "no_grad" else "inference_mode", "cut_line": line}


def version_of(t: torch.Tensor) -> int | None:
    """The tensor's version counter; None for an inference tensor, which has none (reading it
    raises), so an in-place change to it cannot be ruled out."""
    return None if t.is_inference() else t._version


def _grad_mode() -> str:
    if torch.is_inference_mode_enabled():
        return "inference"
    return "grad" if torch.is_grad_enabled() else "no_grad"


def _set_slot(values: list, slot: int, value) -> None:
    while len(values) <= slot:
        values.append(None)
    values[slot] = value
