"""Run a snippet under capture and return its Trace. Pure: torch and the standard library only.

Example::

    >>> trace = capture("import torch\\nx = torch.tensor(2.0, requires_grad=True)\\n"
    ...                 "y = x ** 2\\ny.backward()\\n")
    >>> [v.grad["values"] for v in trace.variables if v.name == "x"]
    [[4.0]]
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import gc
import io
import linecache
import random
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)

from gradtrace.capture import doctor, names
from gradtrace.capture.backward import PassRecorder, keep_last_passes
from gradtrace.capture.forward import ForwardRecorder
from gradtrace.capture.grad_mode import grad_mode_tap
from gradtrace.capture.hooks import HookTap
from gradtrace.capture.session import CaptureConfig, RunStopped, Session
from gradtrace.capture.source import SNIPPET_FILENAME, SourceMap
from gradtrace.capture.stream import EventStream
from gradtrace.drawing.layout import layout
from gradtrace.trace.protocol import (
    ErrorInfo,
    PassLog,
    Trace,
    conclusion_events,
    start_event,
    stdout_event,
)


class OutputLimitExceeded(Exception):
    """The snippet printed more than the run may keep."""


_OWN_FILES = str(Path(__file__).resolve().parent.parent)  # gradtrace's own source files


class CappedOutput(io.TextIOBase):
    """stdout/stderr for the snippet: keeps what was printed, up to a limit, then stops the run.
    Each piece is sent with how far the run had got (steps and passes begun). ``through``: a
    stream it is written on to as well (the user's own, in their own process)."""

    def __init__(self, limit: int, session: Session, through=None):
        self.limit = limit
        self.session = session
        self.through = through
        self.parts: list[str] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.size += len(text)
        if self.size > self.limit:
            raise OutputLimitExceeded(f"the snippet printed more than {self.limit} characters")
        self.parts.append(text)
        if self.through is not None:
            self.through.write(text)
        session = self.session
        session.emit(stdout_event(text, session.step_count, session.pass_count))
        return len(text)

    def show_warning(self, message, category, filename, lineno, file=None, line=None):
        if filename.startswith(_OWN_FILES):  # raised through a recorder: name the snippet's line
            frame = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename != SNIPPET_FILENAME:
                frame = frame.f_back
            if frame is not None:  # (formatwarning finds the line's text through linecache)
                filename, lineno, line = SNIPPET_FILENAME, frame.f_lineno, None
        self.write(warnings.formatwarning(message, category, filename, lineno, line))

    def getvalue(self) -> str:
        return "".join(self.parts)


def capture(code: str, *, device: str = "cpu", config: CaptureConfig | None = None,
            output_limit: int = 1_000_000, seed: int | None = 0, preset: dict | None = None,
            stream: EventStream | None = None,
            on_start: Callable[[Session], None] | None = None, free_graph: bool = True) -> Trace:
    """Run ``code`` as a script with every torch call, autograd node and backward pass recorded.

    Runs are deterministic: torch, random and numpy are seeded with ``seed`` first (None: left
    as they are, as in a plain run). The run uses torch's threads as set now. ``preset``
    pre-binds top-level names (a model built beforehand, say); it is copied, not changed.
    ``stream`` receives the run as it happens, in batches of events (protocol.EVENT_TYPES)
    that protocol.rebuild() turns back into the document. ``on_start`` is given the Session just
    before the snippet starts (the worker's signal handlers stop it through the session).
    ``free_graph=False`` leaves the autograd graph to a process that exits at once (a worker)."""
    trace = Trace(device=device, seed=seed, threads=torch.get_num_threads())
    if stream:
        stream.push(start_event(device, seed, trace.threads), urgent=True)
    tree, compiled, trace.error = _parse(code, device)
    if compiled is None:
        _conclude(trace, stream)
    else:
        _run(trace, code, tree, compiled, config, output_limit, seed, preset, stream, on_start,
             free_graph)
    return trace


def _conclude(trace: Trace, stream: EventStream | None) -> None:
    if stream:
        for event in conclusion_events(trace):
            stream.push(event)
        stream.drain()


def _parse(code: str, device: str):
    """(syntax tree, code object, None), or (None, None, why the snippet cannot run)."""
    try:
        tree = ast.parse(code, SNIPPET_FILENAME)
        compiled = compile(tree, SNIPPET_FILENAME, "exec")
    except (SyntaxError, ValueError) as exc:
        return None, None, doctor.error_info(exc, SNIPPET_FILENAME)
    except (RecursionError, MemoryError):  # the parser's own limits, on absurdly deep code
        lines = code.splitlines() or [""]
        line = 1 + max(range(len(lines)), key=lambda i: len(lines[i]))  # the likely culprit
        return None, None, ErrorInfo(
            "SyntaxError", f"line {line} is nested too deeply for Python's parser: split that "
            "expression into several statements", line, "syntax_error")
    if device == "cuda" and not torch.cuda.is_available():
        return None, None, ErrorInfo("DeviceUnavailable", "CUDA is not available on this "
                                     "machine: run on cpu instead.", None, "user_exception")
    return tree, compiled, None


def _run(trace, code, tree, compiled, config, output_limit, seed, preset, stream, on_start,
         free_graph) -> None:
    source = SourceMap(code)
    linecache.cache[SNIPPET_FILENAME] = (len(code), None, code.splitlines(True), SNIPPET_FILENAME)
    session = Session(source, config)
    session.namespace = namespace = {**(preset or {}), "__name__": "__main__",
                                     "__builtins__": builtins}
    session.stream = stream
    if stream:
        stream.complete_events = session.flush
    output = CappedOutput(output_limit, session)
    if on_start:
        on_start(session)
    if seed is not None:
        _seed(seed, trace.device)
    with collector_frozen():
        trace.error = _execute(compiled, session, output, trace.device)
        conclude(trace, session, names.binding_lines(tree), output.getvalue())
        if free_graph:
            namespace.clear()  # the user's tensors go first, while the graph is still held ...
            session.graph.release()  # ... then the graph, in an order that cannot recurse


@contextlib.contextmanager
def collector_frozen():
    """Records and summaries are many small objects: keep the garbage collector out of them."""
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def conclude(trace: Trace, session: Session, lines: dict[str, list[int]], stdout: str) -> None:
    """What is known once the code has run (``lines``: where each name was bound), into
    ``trace`` and out on the session's stream: before anything is freed, since a timed-out run
    has a second to send it."""
    _finish(trace, session, lines)
    trace.stdout = stdout
    _conclude(trace, session.stream)


def _execute(compiled, session: Session, output: CappedOutput, device: str) -> ErrorInfo | None:
    """Run the snippet under every recorder. Its own failure is part of the trace, not ours."""
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output), \
                warnings.catch_warnings(), _settings_restored(), recording(session, device):
            warnings.simplefilter("default")  # warnings print, as in a plain script ...
            warnings.showwarning = output.show_warning  # ... into the snippet's own output
            session.recording = True
            try:
                exec(compiled, session.namespace)
            finally:
                session.recording = False
    except SystemExit as exc:
        if exc.code not in (None, 0):
            return ErrorInfo("SystemExit", f"the snippet called sys.exit({exc.code!r})",
                             doctor.snippet_line(exc, SNIPPET_FILENAME), "user_exception")
    except RunStopped as exc:
        return _stopped(session, doctor.snippet_line(exc, SNIPPET_FILENAME))
    except OutputLimitExceeded as exc:
        return ErrorInfo("OutputLimitExceeded", str(exc),
                         doctor.snippet_line(exc, SNIPPET_FILENAME), "output_limit")
    except BaseException as exc:
        info = doctor.error_info(exc, SNIPPET_FILENAME)
        if isinstance(exc, torch.cuda.OutOfMemoryError):  # torch.OutOfMemoryError since 2.5
            info.message = doctor.gpu_memory_message(str(exc), session.config.gpu_memory_mb)
        return info
    return None


def _stopped(session: Session, line: int | None) -> ErrorInfo:
    """Why the run was stopped, and where: the line that crossed the graph-size cap, or the line
    that was running when time ran out."""
    if session.stop_code == "memory_limit":
        return ErrorInfo("GraphTooLarge", session.stop_message, session.stop_line or line,
                         "memory_limit")
    return ErrorInfo("Timeout", session.stop_message, line, "timeout")


@contextlib.contextmanager
def _settings_restored():
    """Process-wide settings a snippet may change without restoring them: a worker's next run
    starts from its own."""
    with contextlib.ExitStack() as undo:
        undo.callback(torch.set_anomaly_enabled, torch.is_anomaly_enabled(),
                      torch.is_anomaly_check_nan_enabled())
        undo.callback(torch.set_default_dtype, torch.get_default_dtype())
        undo.callback(torch.set_grad_enabled, torch.is_grad_enabled())
        yield


@contextlib.contextmanager
def recording(session: Session, device: str):
    """Install every recorder; one ExitStack undoes all of them, whatever the code did."""
    with contextlib.ExitStack() as undo:
        undo.callback(session.leave_all_modules)
        undo.enter_context(PassRecorder(session).installed())
        undo.enter_context(HookTap(session).installed())
        undo.enter_context(grad_mode_tap(session))
        undo.callback(register_module_forward_pre_hook(_enter_module(session)).remove)
        undo.callback(register_module_forward_hook(_leave_module(session),
                                                   always_call=True).remove)
        original_apply = torch.autograd.Function.__dict__["apply"]
        undo.callback(setattr, torch.autograd.Function, "apply", original_apply)
        torch.autograd.Function.apply = classmethod(_recorded_apply(session, original_apply))
        undo.enter_context(_default_device(device))
        undo.enter_context(ForwardRecorder(session))
        yield


@contextlib.contextmanager
def _default_device(device: str):
    """Tensors the snippet creates land on ``device``. CPU needs nothing: setting it anyway would
    leave a device mode installed."""
    if device == "cpu":
        yield
        return
    with torch.device(device):
        yield


def _enter_module(session: Session):
    def enter(module, args):
        session.enter_module(module)  # returns None: args unchanged

    return enter


def _leave_module(session: Session):
    def leave(module, args, output):
        session.leave_module()  # returns None: the output is unchanged

    return leave


def _recorded_apply(session: Session, original_apply):
    """A custom autograd.Function call is one step named after its class; the ops inside its
    forward are its own business and are not recorded."""
    apply = original_apply.__func__

    def recorded(cls, *args, **kwargs):
        if session.suspended:
            return apply(cls, *args, **kwargs)
        line, span = session.source.locate(1)
        with session.suspend():
            result = apply(cls, *args, **kwargs)
        outputs = [t for t in (result if isinstance(result, tuple) else (result,))
                   if isinstance(t, torch.Tensor)]
        inputs = [a for a in args if isinstance(a, torch.Tensor)]
        session.record("function", cls.__name__, line, span, inputs, outputs)
        return result

    return recorded


def _seed(seed: int, device: str) -> None:
    if device == "cpu" and not torch.cuda.is_available():
        torch.default_generator.manual_seed(seed)  # torch.manual_seed also queues CUDA seeding
    else:
        torch.manual_seed(seed)
    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed)
    except ImportError:
        pass


def _finish(trace: Trace, session: Session, lines: dict[str, list[int]]) -> None:
    keep_last_passes(session)
    session.flush()
    if trace.error is None and session.stop_message is not None:  # crossed after it ended
        trace.error = _stopped(session, None)
    trace.variables = names.collect_variables(session.namespace, lines, session.graph,
                                              session.summaries, session.library_modules,
                                              session.made_on, session.tensors.find)
    session.summaries.flush()
    trace.diagnostics = doctor.diagnose(trace.variables, session, trace.error)
    trace.steps = session.steps
    trace.skipped_steps = session.ring.dropped_steps
    trace.passes = session.passes
    trace.pass_log = PassLog(total=session.pass_count, kept=[p.index for p in session.passes],
                             losses=session.losses,
                             why=[session.kept_why[p.index] for p in session.passes])
    trace.nodes = [rec.node for rec in session.graph.records]  # (dropped passes never got here)
    trace.edges = list(session.graph.edges)
    trace.modules = session.module_classes
    roots = {r for p in session.passes for r in p.roots}
    for node in trace.nodes:
        if node.id in roots and node.kind == "op":
            node.kind = "output"
    if not session.layout_is_current(trace.nodes, trace.edges):  # most runs: laid out at the pass
        layout(trace.nodes, trace.edges)
