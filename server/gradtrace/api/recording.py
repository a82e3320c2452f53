"""gradtrace in the user's own process: what a block of code, or one call, did in autograd,
recorded with no server and no sandbox (it is the user's own code, on their own machine and GPU).

    with gradtrace.record() as run:
        loss = model(x).pow(2).mean()
        loss.backward()
    run.save("step.html")  # the page, replaying the run, in one file that needs no server

    run = gradtrace.record(step, model, x)  # one call: step(model, x)

``run.document`` is the trace document, the schema of `gradtrace trace --json`. Ops are placed
on the lines of the file the recorded code is in (the block's, or the function's), and a call
into another file of the user's own on that file's line (capture/source.py: the document names
the file, and holds its text); code of Python's, torch's or a package's counts as the line that
called it. The recorders are undone however the block exits, and an
exception in it goes on up after it is recorded: ``run`` explains it. Settings the code itself
changes (the default dtype, grad mode) stay changed, as they would without gradtrace.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import linecache
import sys
import threading
import weakref
import webbrowser
from pathlib import Path

import torch

from gradtrace.capture import doctor
from gradtrace.capture.names import binding_lines
from gradtrace.capture.run import CappedOutput, collector_frozen, conclude, recording
from gradtrace.capture.session import CaptureConfig, Session
from gradtrace.capture.source import SourceMap
from gradtrace.trace import jsonio
from gradtrace.trace.protocol import Trace, document

UNLIMITED_OUTPUT = sys.maxsize


class Run:
    """A recorded run: ``document`` (the trace document), ``result`` (what a recorded call
    returned) and what it printed."""

    def __init__(self, code: str):
        self.code = code  # the source of the file it was recorded in
        self.prints: list[dict] = []  # what it printed, each piece with the steps and passes
        self.trace: Trace | None = None  # once the block has ended
        self.result = None
        self.exception: Exception | None = None
        self._document: dict | None = None

    @property
    def document(self) -> dict:
        """The trace document, as `gradtrace trace --json` gives it. Made when first asked for:
        recording costs no more than a worker's capture (bench/inprocess.py)."""
        if self._document is None:
            with collector_frozen():
                self._document = jsonio.loads(jsonio.dumps(self._document_as_made()))
        return self._document

    def _document_as_made(self) -> dict:
        """The document with a summary's values still numpy arrays (JSON writes them)."""
        if self.trace is None:
            raise RuntimeError("the run is still being recorded")
        made = document(self.trace)
        made["device"] = _device_of(made, self.trace.device)
        made["sources"] = _sources(made)
        return made

    def html(self) -> str:
        """The standalone page replaying this run (the page's "Standalone HTML" export)."""
        from gradtrace.web.standalone import saved_run

        with collector_frozen():
            return saved_run(self._document_as_made(), self.prints, self.code)

    def save(self, path: str | Path) -> Path:
        """Write the run: ``.html``, the standalone page; ``.json``, the trace document."""
        path = Path(path)
        if path.suffix == ".html":
            path.write_text(self.html(), encoding="utf-8")
        elif path.suffix == ".json":
            with collector_frozen():
                path.write_bytes(jsonio.dumps(self._document_as_made()))
        else:
            raise ValueError(f"save writes .html (the page) or .json (the document), not "
                             f"{path.suffix or 'a file with no suffix'}")
        return path

    def show(self) -> None:
        """Show the run: inline in a notebook (as a ``%%gradtrace`` cell does), else the
        standalone page in the browser."""
        shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
        if shell is not None and getattr(shell, "kernel", None) is not None:
            from IPython.display import display

            from gradtrace.api.notebook import output

            display(output(self.document, self.prints, self.code), raw=True)
            return
        with contextlib.suppress(OSError):
            path = Path(self._temporary_html())
            webbrowser.open(path.as_uri())

    def _temporary_html(self) -> str:
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".html", prefix="gradtrace-", delete=False,
                                         encoding="utf-8") as f:
            f.write(self.html())
            return f.name


class Recording:
    """``with record() as run:``: records the block (see the module's docstring)."""

    def __init__(self, device: str | None = None, passes: int | None = None, code=None):
        self.device = device
        self.config = CaptureConfig(head_passes=passes, tail_passes=0, sample_passes=False) \
            if passes else CaptureConfig()
        self.code = code  # the recorded function's code object, for record(fn, ...)
        self.run: Run | None = None

    def __enter__(self) -> Run:
        frame = sys._getframe(1)  # the user's code, entering the block (or record's own)
        code = self.code or frame.f_code
        filename = code.co_filename
        source = "".join(linecache.getlines(filename))  # a notebook's cells are there too
        self.run = run = Run(source)
        self.lines = _binding_lines(source, None if code.co_name == "<module>"
                                    else code.co_firstlineno)
        self.session = session = Session(SourceMap(source, filename, users_files=True),
                                         self.config)
        session.namespace = _Locals(frame) if self.code is None else _Locals(None, self.code)
        # the user's own process: its random state and threads are left as they are
        self.trace = Trace(device=self.device or "cpu", seed=None,
                           threads=torch.get_num_threads())
        self.output = _Printed(run.prints, session, through=sys.stdout)
        self.frozen = collector_frozen()  # until the document is made, as in a worker
        self.frozen.__enter__()
        self.undo = contextlib.ExitStack()
        self.undo.enter_context(contextlib.redirect_stdout(self.output))
        self.undo.enter_context(recording(session, self.device or "cpu"))
        session.recording = True
        return run

    def __exit__(self, kind, exc, traceback) -> bool:
        session = self.session
        session.recording = False
        try:
            self.undo.close()
            if exc is not None:
                self.trace.error = doctor.error_info(exc, session.source.filename)
            session.namespace = session.namespace.snapshot()
            conclude(self.trace, session, self.lines, self.output.getvalue())
            self.run.trace = self.trace
        finally:
            _release_when_unheld(session)
            self.frozen.__exit__(None, None, None)
        return False  # the exception goes on: the run has recorded it


def record(fn=None, /, *args, device: str | None = None, passes: int | None = None,
           **kwargs):
    """``with record() as run:`` records the block; ``record(fn, *args, **kwargs)`` records the
    call ``fn(*args, **kwargs)`` and returns its run (``run.result``: what it returned; its
    variables are the function's). A call that raises still returns its run, which explains
    the error; ``run.exception`` is the exception. ``device``: where the tensors it makes land
    by default (its own code decides otherwise). ``passes``: a loop's first passes kept in full
    (default: gradtrace's choice, the first, a sample and the last)."""
    if fn is None:
        return Recording(device, passes)
    code = _code_of(fn)
    recorder = Recording(device, passes, code=code)
    try:
        with recorder as run, _frame_of(code, recorder.session.namespace):
            run.result = fn(*args, **kwargs)
    except Exception as exc:  # recorded: the run says what went wrong, and where
        run.exception = exc
    return run


class _Locals:
    """The recorded code's variables as they are now (a function's locals are copied each time
    they are read), for naming tensors while it runs; its module, for a module's forward.
    ``code``: the recorded function's, whose frame is found on the stack when it is first read
    (when _frame_of did not catch it starting)."""

    def __init__(self, frame, code=None):
        self.frame = frame
        self.code = code

    def items(self):
        if self.frame is None and self.code is not None:
            frame = sys._getframe(1)
            while frame is not None and frame.f_code is not self.code:
                frame = frame.f_back
            self.frame = frame
        if self.frame is None:
            return ()
        return [("model" if name == "self" and isinstance(value, torch.nn.Module) else name,
                 value) for name, value in self.frame.f_locals.items()]

    def snapshot(self) -> dict:
        names = dict(self.items())
        self.frame = self.code = None  # the run keeps no frame alive
        return names


@contextlib.contextmanager
def _frame_of(code, names: _Locals):
    """While the call runs: its frame, caught as it starts by a profile function that removes
    itself (a frame keeps its locals after it returns). Not under a profiler of the user's own,
    which this would replace: then names finds the frame on the stack, if it is read in time."""
    if sys.getprofile() is not None:
        yield
        return

    def catch(frame, event, arg):
        if event == "call" and frame.f_code is code:
            names.frame = frame
            sys.setprofile(None)

    sys.setprofile(catch)
    try:
        yield
    finally:
        if sys.getprofile() is catch:
            sys.setprofile(None)


def _release_when_unheld(session: Session) -> None:
    """Drop the recording's references to the autograd graph, once nothing of the user's holds
    the graph any more.

    # NOTE [a recorded graph outlives its recording]
    Walking a graph gives each node a Python wrapper, which the node keeps. Freed from its root
    later, a deep chain of such nodes is freed recursively through them: the 40,000 nodes of
    an 8,000-step RNN overflow the C stack. Plain torch crashes so too, after a walk over
    ``grad_fn.next_functions`` (torchviz's). A worker frees its graph in an order that cannot
    recurse (graph.release) once the snippet's variables are gone. In the user's process the
    variables stay, so the references stay too, until the last tensor of the recording still
    alive at its end is freed: then, a moment later, each node dies alone."""
    holders = [t for t in session.tensors.alive().values() if t.grad_fn is not None]
    graph = session.graph
    if not holders:
        graph.release()
        return
    left = [len(holders)]

    def freed() -> None:
        left[0] -= 1
        if left[0] == 0:  # (the last tensor is still being freed: release after it)
            threading.Timer(0.0, graph.release).start()

    for t in holders:
        weakref.finalize(t, freed).atexit = False


class _Printed(CappedOutput):
    """The user's stdout, written through, and each piece kept with how far the run had got."""

    def __init__(self, prints: list[dict], session: Session, through):
        super().__init__(UNLIMITED_OUTPUT, session, through)
        self.prints = prints

    def write(self, text: str) -> int:
        self.prints.append({"text": text, "step": self.session.step_count,
                            "passes": self.session.pass_count})
        return super().write(text)


def _code_of(fn):
    """The code object of what ``fn`` runs: a function, a method, or a module's forward."""
    target = fn.forward if isinstance(fn, torch.nn.Module) else fn
    target = inspect.unwrap(target)
    if not (inspect.isfunction(target) or inspect.ismethod(target)) and callable(target):
        target = type(target).__call__  # an object called as a function
    code = getattr(target, "__code__", None)
    if code is None:
        raise TypeError(f"record needs a Python function or module to record, not "
                        f"{type(fn).__name__}")
    return code


def _binding_lines(source: str, first_line: int | None) -> dict[str, list[int]]:
    """Where each name is bound: in the function that starts at ``first_line``, or at the top
    level of the file."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    if first_line is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
                    node.lineno == first_line or any(d.lineno == first_line
                                                     for d in node.decorator_list)):
                return binding_lines(ast.Module(body=node.body, type_ignores=[]))
    return binding_lines(tree)


def _sources(made: dict) -> dict[str, str]:
    """The text of each of the user's other files the run's steps and nodes name (the viewer
    shows them)."""
    files = {item["file"] for key in ("steps", "passes") for item in made[key] if "file" in item}
    files |= {n["file"] for n in made["graph"]["nodes"] if "file" in n}
    return {file: "".join(linecache.getlines(file)) for file in sorted(files)}


def _device_of(made: dict, asked: str) -> str:
    """The device the run's tensors were on: the one asked for, or the variables' own."""
    devices = {v.get("device", "cpu").split(":")[0] for v in made["variables"]}
    return asked if asked != "cpu" or devices <= {"cpu"} else sorted(devices - {"cpu"})[0]

