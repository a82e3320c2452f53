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
import warnings
from collections.abc import Callable

import torch
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)

from gradtrace.capture import doctor, names
from gradtrace.capture.backward import PassRecorder
from gradtrace.capture.forward import ForwardRecorder
from gradtrace.capture.hooks import HookTap
from gradtrace.capture.session import CaptureConfig, Session
from gradtrace.capture.source import SNIPPET_FILENAME, SourceMap
from gradtrace.capture.stream import EventStream
from gradtrace.layout import layout
from gradtrace.protocol import SCHEMA, ErrorInfo, PassLog, Trace, document


class OutputLimitExceeded(Exception):
    """The snippet printed more than the run may keep."""


class CappedOutput(io.TextIOBase):
    """stdout/stderr for the snippet: keeps what was printed, up to a limit, then stops the run."""

    def __init__(self, limit: int, emit: Callable[[dict], None]):
        self.limit = limit
        self.emit = emit
        self.parts: list[str] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.size += len(text)
        if self.size > self.limit:
            raise OutputLimitExceeded(f"the snippet printed more than {self.limit} characters")
        self.parts.append(text)
        self.emit({"type": "stdout", "text": text})
        return len(text)

    def show_warning(self, message, category, filename, lineno, file=None, line=None):
        self.write(warnings.formatwarning(message, category, filename, lineno, line))

    def getvalue(self) -> str:
        return "".join(self.parts)


def capture(code: str, *, device: str = "cpu", config: CaptureConfig | None = None,
            output_limit: int = 1_000_000, seed: int = 0, preset: dict | None = None,
            stream: EventStream | None = None) -> Trace:
    """Run ``code`` as a script with every torch call, autograd node and backward pass recorded.

    Runs are deterministic: torch, random and numpy are seeded with ``seed`` first. ``preset``
    pre-binds top-level names (a model built beforehand, say); it is copied, not changed.
    ``stream`` receives the run as it happens, in batches of events (protocol.EVENT_TYPES)
    that protocol.rebuild() turns back into the document."""
    if stream:
        stream.push({"type": "start", "schema": SCHEMA, "device": device}, urgent=True)
    trace = _capture(code, device, config, output_limit, seed, preset, stream)
    if stream:
        _send_conclusion(stream, document(trace))
    return trace


def _send_conclusion(stream: EventStream, doc: dict) -> None:
    """What is only known at the end: the final graph, variables, diagnoses, the error."""
    stream.push({"type": "graph", "graph": doc["graph"]})
    stream.push({"type": "variables", "variables": doc["variables"]})
    stream.push({"type": "diagnostics", "diagnostics": doc["diagnostics"]})
    stream.push({"type": "pass_log", "pass_log": doc["pass_log"],
                 "skipped_steps": doc["skipped_steps"]})
    if doc["error"]:
        stream.push({"type": "error", "error": doc["error"]})
    stream.drain()


def _capture(code, device, config, output_limit, seed, preset, stream) -> Trace:
    source = SourceMap(code)
    trace = Trace(device=device)
    try:
        tree = ast.parse(code, SNIPPET_FILENAME)
        compiled = compile(tree, SNIPPET_FILENAME, "exec")
    except (SyntaxError, ValueError) as exc:
        trace.error = doctor.error_info(exc, SNIPPET_FILENAME)
        return trace
    except (RecursionError, MemoryError):  # the parser's own limits, on absurdly deep code
        lines = code.splitlines() or [""]
        line = 1 + max(range(len(lines)), key=lambda i: len(lines[i]))  # the likely culprit
        trace.error = ErrorInfo("SyntaxError", f"line {line} is nested too deeply for Python's "
                                "parser: split that expression into several statements", line,
                                "syntax_error")
        return trace
    if device == "cuda" and not torch.cuda.is_available():
        trace.error = ErrorInfo("DeviceUnavailable", "CUDA is not available on this machine: "
                                "run on cpu instead.", None, "user_exception")
        return trace
    linecache.cache[SNIPPET_FILENAME] = (len(code), None, code.splitlines(True), SNIPPET_FILENAME)
    session = Session(source, config)
    session.namespace = namespace = {**(preset or {}), "__name__": "__main__",
                                     "__builtins__": builtins}
    session.stream = stream
    if stream:
        stream.flush_summaries = session.flush_summaries
    output = CappedOutput(output_limit, session.emit)
    _seed(seed, device)
    gc.freeze()  # records and summaries are many small objects: keep the collector out of it
    gc.disable()
    try:
        trace.error = _execute(compiled, session, output, device)
        _finish(trace, session, names.binding_lines(tree))
        trace.stdout = output.getvalue()
        namespace.clear()  # the user's tensors go first, while the graph is still held ...
        session.graph.release()  # ... then the graph, in an order that cannot recurse deeply
    finally:
        gc.enable()
        gc.unfreeze()
    return trace


def _execute(compiled, session: Session, output: CappedOutput, device: str) -> ErrorInfo | None:
    """Run the snippet under every recorder. Its own failure is part of the trace, not ours."""
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output), \
                warnings.catch_warnings(), _recording(session, device):
            warnings.simplefilter("default")  # warnings print, as in a plain script ...
            warnings.showwarning = output.show_warning  # ... into the snippet's own output
            exec(compiled, session.namespace)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            return ErrorInfo("SystemExit", f"the snippet called sys.exit({exc.code!r})",
                             doctor.snippet_line(exc, SNIPPET_FILENAME), "user_exception")
    except OutputLimitExceeded as exc:
        return ErrorInfo("OutputLimitExceeded", str(exc),
                         doctor.snippet_line(exc, SNIPPET_FILENAME), "output_limit")
    except BaseException as exc:
        return doctor.error_info(exc, SNIPPET_FILENAME)
    return None


@contextlib.contextmanager
def _recording(session: Session, device: str):
    """Install every recorder; remove all of them in ``finally``, whatever the snippet did."""
    passes = PassRecorder(session)
    hooks = HookTap(session)
    stack = session.module_stack
    handles = []
    original_apply = torch.autograd.Function.__dict__["apply"]
    # Process-wide settings a snippet may change without restoring them.
    grad_enabled, default_dtype = torch.is_grad_enabled(), torch.get_default_dtype()
    anomaly = torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()
    try:
        passes.install()
        hooks.install()
        handles.append(register_module_forward_pre_hook(_enter_module(session)))
        handles.append(register_module_forward_hook(_leave_module(stack), always_call=True))
        torch.autograd.Function.apply = classmethod(_recorded_apply(session, original_apply))
        with _default_device(device), ForwardRecorder(session):
            yield
    finally:
        torch.set_grad_enabled(grad_enabled)
        torch.set_default_dtype(default_dtype)
        torch.set_anomaly_enabled(*anomaly)
        torch.autograd.Function.apply = original_apply
        for handle in handles:
            handle.remove()
        hooks.uninstall()
        passes.uninstall()
        stack.clear()


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
        session.module_stack.append(session.module_path(module))  # returns None: args unchanged

    return enter


def _leave_module(stack: list):
    def leave(module, args, output):
        if stack:
            stack.pop()  # returns None: the output is unchanged

    return leave


def _recorded_apply(session: Session, original_apply):
    """A custom autograd.Function call is one step named after its class; the ops inside its
    forward are its own business and are not recorded."""
    apply = original_apply.__func__

    def recorded(cls, *args, **kwargs):
        if session.suspended:
            return apply(cls, *args, **kwargs)
        line, span = session.source.locate(1)
        session.suspended += 1
        try:
            result = apply(cls, *args, **kwargs)
        finally:
            session.suspended -= 1
        outputs = [t for t in (result if isinstance(result, tuple) else (result,))
                   if isinstance(t, torch.Tensor)]
        inputs = [a for a in args if isinstance(a, torch.Tensor)]
        session.add_step("function", cls.__name__, line, span, inputs, outputs)
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


def _finish(trace: Trace, session: Session, lines: dict[str, int]) -> None:
    trace.variables = names.collect_variables(session.namespace, lines, session.graph,
                                              session.summaries)
    session.summaries.flush()
    trace.diagnostics = doctor.diagnose(trace.variables, session)
    trace.steps = session.steps
    trace.skipped_steps = len(session.dropped_steps)
    trace.passes = session.passes
    trace.pass_log = PassLog(total=session.pass_count, kept=[p.index for p in session.passes],
                             losses=session.losses)
    kept = _kept_nodes(session)
    trace.nodes = [rec.node for rec in session.graph.records if rec.node.id in kept]
    trace.edges = [e for e in session.graph.edges if e.src in kept and e.dst in kept]
    roots = {r for p in session.passes for r in p.roots}
    for node in trace.nodes:
        if node.id in roots and node.kind == "op":
            node.kind = "output"
    layout(trace.nodes, trace.edges)


def _kept_nodes(session: Session) -> set[int]:
    """Nodes of dropped loop iterations leave the document, unless a kept pass ran them."""
    dropped = session.dropped_steps
    kept = {rec.node.id for rec in session.graph.records if rec.node.step not in dropped}
    for p in session.passes:
        kept.update(s.node for s in p.steps if s.node is not None)
    return kept
