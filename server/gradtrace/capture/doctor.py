"""Why a gradient is None, and what an exception means: codes from the contract, with lines.

This is the first layer of the doctor: it names the code and the line of the cause where the
recording shows it plainly. Deeper cause tracing builds on the same records.
"""

from __future__ import annotations

import re
import traceback
from collections import deque

import torch

from gradtrace.capture.cuts import COPYING, Cause, Cuts
from gradtrace.capture.names import named_tensors
from gradtrace.trace.protocol import Diagnostic, ErrorInfo

# (substring of the message, code), checked in order.
_ERROR_PATTERNS = (
    ("backward through the graph a second time", "graph_freed"),
    ("saved tensors after they have already been freed", "graph_freed"),
    ("leaf Variable that requires grad is being used in an in-place", "inplace_leaf"),
    ("modified by an inplace operation", "inplace_modified"),
    ("does not require grad and does not have a grad_fn", "no_grad_fn"),
    ("grad can be implicitly created only for", "nonscalar_backward"),
    ("can't allocate memory", "memory_limit"),
    ("out of memory", "memory_limit"),
)


_NO_CUDA = ("Torch not compiled with CUDA enabled", "No CUDA GPUs are available",
            "Found no NVIDIA driver")

# What the doctor adds to the message of an error whose raw text does not say what to do.
EXPLAINED = {
    "cuda_unavailable": "this machine has no CUDA device for torch: run on the cpu device, or "
                        "choose the device with torch.cuda.is_available()",
    "gradcheck_precision": "gradcheck compares your backward with finite differences, which "
                           "float32 is too coarse for: even a correct backward fails. Pass "
                           "float64 inputs (dtype=torch.float64)",
}


def classify_error(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return "syntax_error"
    if isinstance(exc, MemoryError):
        return "memory_limit"
    message = str(exc)
    for needle, code in _ERROR_PATTERNS:
        if needle in message:
            return code
    if any(needle in message for needle in _NO_CUDA):
        return "cuda_unavailable"
    if type(exc).__name__ == "GradcheckError" and _gradchecked_single_precision(exc):
        return "gradcheck_precision"
    return "user_exception"


def _gradchecked_single_precision(exc: BaseException) -> bool:
    """Whether the gradcheck that raised was given inputs of less than double precision: read
    from its own frame, not guessed from the message."""
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        inputs = frame.f_locals.get("inputs") if frame.f_code.co_name == "gradcheck" else None
        if inputs is not None:
            tensors = inputs if isinstance(inputs, tuple | list) else (inputs,)
            return any(getattr(t, "requires_grad", False) and getattr(t, "dtype", None)
                       in (torch.float32, torch.float16, torch.bfloat16) for t in tensors)
    return False


def snippet_line(exc: BaseException, filename: str) -> int | None:
    """The innermost line of the snippet in the exception's traceback."""
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        return exc.lineno
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == filename:
            line = lineno
    return line


MAX_MESSAGE_CHARS = 10_000  # an exception's message as recorded; the server refuses huge strings


def short_message(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return f"{message[:MAX_MESSAGE_CHARS]}… ({len(message) - MAX_MESSAGE_CHARS:,} more characters)"


def gpu_memory_message(message: str, cap_mb: int) -> str:
    """CUDA's out-of-memory text is a paragraph about its allocator: say what happened, and what
    to do, first."""
    asked = re.search(r"Tried to allocate [\d.]+ \w+", message)
    cap = f"this run's cap of {cap_mb} MiB" if cap_mb else "what the GPU has free"
    return (f"the snippet asked the GPU for more memory than {cap}"
            f"{f' ({asked.group(0)[0].lower()}{asked.group(0)[1:]})' if asked else ''}: use "
            "smaller tensors or a smaller batch, or free tensors you no longer need "
            f"(del them). CUDA said: {short_message(message)}")


def error_info(exc: BaseException, filename: str) -> ErrorInfo:
    message = short_message((exc.msg if isinstance(exc, SyntaxError) else str(exc)).strip())
    code = classify_error(exc)
    if code in EXPLAINED:
        message += f" ({EXPLAINED[code]}.)"
    return ErrorInfo(type=type(exc).__name__, message=message,
                     line=snippet_line(exc, filename), code=code)


def trace_error(error: ErrorInfo | None, session, diagnostics: list[Diagnostic] = ()) -> None:
    """Set ``error.cause_line``: where the cause of the exception is, from the recording.
    - graph_freed: the earlier backward that freed the graph (in a loop, where that is the
      same line, the line that made the tensor carrying the graph from pass to pass);
    - inplace_modified: the in-place op that changed a tensor a node had saved (in a loop that
      keeps its graph, the line that made the tensor carrying it);
    - no_grad_fn: the cut that left the tensor backward was called on with no graph, or where
      what it was made from began (a tensor created without requires_grad=True);
    - nonscalar_backward: where the tensor backward was called on was made;
    - a TypeError or AttributeError about None on a line that read a None .grad
      (``0.1 * w.grad``, ``w.grad.data``): the cause of
      that None, from its diagnosis, which the message then tells."""
    if error is None:
        return
    if error.type in ("TypeError", "AttributeError") and "NoneType" in error.message:
        read = {name for name, t, _ in named_tensors(session.namespace)
                if session.none_grad_read_at(t) == error.line}
        found = next((d for d in diagnostics if d.variable in read), None)
        if found is not None:
            error.cause_line = found.line
            error.message += f" ({found.variable}.grad is None: {found.message})"
        return
    if error.code == "graph_freed":
        _trace_freed(error, session)
    elif error.code == "inplace_modified":
        _trace_clobbered(error, session)
    elif error.code in ("no_grad_fn", "nonscalar_backward") and session.failed_roots:
        cuts = Cuts(session)
        root = session.failed_roots[0]
        if error.code == "nonscalar_backward":
            error.cause_line = cuts.made_at(root)
        else:
            cause = cuts.made_from_cut(root)
            error.cause_line = cause.line if cause is not None else cuts.made_at(root, origin=True)
            if cause is not None:
                error.message += f" (what backward was called on was {_cut_said(cause)})"


def _cut_said(cause: Cause) -> str:
    """How a cut made a tensor with no graph, said after "was"."""
    where = f"line {cause.line}" if cause.line else "an earlier line"
    if cause.code == "non_differentiable":
        return f"made through {cause.op} on {where}, which has no gradient"
    if cause.code == "detached":
        return f"cut from the graph by {_cutter(cause)} on {where}"
    if cause.code == "left_graph":
        return f"rebuilt from numbers that left the graph through .{cause.op}() on {where}"
    return f"made by the {cause.op} on {_no_grad_places(cause)[0]}, with gradients off"


def _trace_freed(error: ErrorInfo, session) -> None:
    """A backward went through a graph an earlier one freed. The cause is that backward's line;
    but in a loop that is the error's own line, and what matters is the tensor that carries the
    graph from pass to pass (_carried)."""
    done = [p for p in session.passes if p.error is None and not p.retain_graph]
    if not done:
        return
    error.cause_line = done[-1].line
    carried = _carried(session, done)
    if carried is not None:
        node, failed, again = carried
        error.cause_line = node.line
        error.message += (
            f" (in the loop, the backward on line {failed.line} goes back through the graph of "
            f"line {node.line}, which an earlier backward freed: " + (
                "each iteration there builds on the last one's result. Detach it at the start "
                "of each iteration (h = h.detach()), or keep every graph with retain_graph=True "
                "if the gradient should flow through them all)" if again else
                "it was made once, before the loop. Make that tensor inside the loop, or "
                ".detach() it if no gradient should flow back through it)"))


def _trace_clobbered(error: ErrorInfo, session) -> None:
    """An in-place op changed a tensor a node had saved: its line is the cause. In a loop whose
    graph is kept from pass to pass (retain_graph=True, with an optimizer's step in between),
    what matters is the tensor that carries that graph (_carried)."""
    error.cause_line = Cuts(session).clobbered(_saved_by(error.message), session.graph)
    carried = _carried(session, [p for p in session.passes if p.error is None])
    if carried is not None:
        node, failed, again = carried
        changed = f" on line {error.cause_line}" if error.cause_line else ""
        made = "by the previous iteration" if again else "once, before the loop"
        error.cause_line = node.line
        error.message += (
            f" (in the loop, the backward on line {failed.line} goes back through the graph of "
            f"line {node.line}, made {made}, whose saved tensors were changed in place "
            f"since{changed}. " + (
                "Detach it at the start of each iteration (h = h.detach()))" if again else
                "Make that tensor inside the loop, or .detach() it if no gradient should flow "
                "back through it)"))


def _carried(session, done: list):
    """(node, failed pass, made again each iteration) when the pass that raised is a loop's:
    on the line of an earlier pass in ``done``, and going back into a graph that pass already
    ran. The node is the nearest such one to the loss that is not a leaf: the tensor carrying
    the graph from pass to pass. None otherwise."""
    failed = next((p for p in reversed(session.passes) if p.error is not None), None)
    if failed is None or not done or failed.line != done[-1].line:
        return None  # two backward calls on two lines: the earlier call's line is the cause
    ran = {s.node for p in done for s in p.steps if s.kind == "node"}
    producers: dict[int, list[int]] = {}
    for edge in session.graph.edges:
        producers.setdefault(edge.dst, []).append(edge.src)
    nodes = {rec.node.id: rec.node for rec in session.graph.records}
    queue, seen = deque(failed.roots), set(failed.roots)
    while queue:
        node = nodes.get(queue.popleft())
        if node is None:
            continue
        if node.id in ran and node.kind != "leaf" and node.line is not None:
            again = any(s.line == node.line and s.index > done[0].after_step
                        for s in session.steps)
            return node, failed, again
        for src in producers.get(node.id, ()):
            if src not in seen:
                seen.add(src)
                queue.append(src)
    return None


def _saved_by(message: str) -> str | None:
    """The autograd node whose saved output an in-place op changed, as the error names it
    ("... which is output 0 of SigmoidBackward0, is at version 1 ...")."""
    found = re.search(r"output \d+ of (\w+)", message)
    return found.group(1) if found else None


def diagnose(variables, session, error: ErrorInfo | None = None) -> list[Diagnostic]:
    """One Diagnostic for every variable whose .grad is None at the end of the run; and the
    cause of ``error`` traced (trace_error), so that the two agree."""
    missing = [var for var in variables if var.grad is None]
    tensors = {name: t for name, t, _ in named_tensors(session.namespace)} if missing else {}
    if error is not None and error.code in STOPPED:
        found = [_stopped_early(var, error) for var in missing]
        trace_error(error, session, found)
        return found
    cuts = Cuts(session) if missing else None
    found = [_diagnose_one(var, session, tensors.get(var.name), cuts) for var in missing]
    trace_error(error, session, found)
    for var, d in zip(missing, found, strict=True):
        _weigh(d, var, session, tensors.get(var.name), error)
    return found


_FLOATING = re.compile(r"(float|complex|bfloat)")


def _can_require_grad(tensor, dtype: str) -> bool:
    """Whether "create it with requires_grad=True" would work: tried on an empty tensor of its
    dtype and device (torch refuses integer and bool tensors); from the dtype's name when the
    tensor is gone."""
    if tensor is None:
        return bool(_FLOATING.match(dtype))
    try:
        torch.empty(0, dtype=tensor.dtype, device=tensor.device).requires_grad_()
    except RuntimeError:
        return False
    return True

# Errors that end a run before its end: what the variables hold then is not what the code meant
STOPPED = frozenset({"timeout", "memory_limit", "output_limit"})

# Codes of a leaf that requires grad and that no backward pass reached, by a cut on a line
_CUT_OFF = frozenset({"detached", "left_graph", "no_grad", "non_differentiable", "not_connected"})


def _weigh(d: Diagnostic, var, session, tensor, error: ErrorInfo | None) -> None:
    """Severity. A warning is a likely bug: the snippet (or an optimizer holding the tensor) read
    the .grad and got None, or the run raised for the cut that cost this leaf its gradient.
    Everything else is information; what _diagnose_one found expected stays so unless read."""
    read_at = session.none_grad_read_at(tensor) if tensor is not None else False
    if read_at is not False:
        d.severity, d.expected = "warning", False
        d.message += f" Its .grad was read as None{f' on line {read_at}' if read_at else ''}."
        return
    raised_for = (error is not None and error.cause_line is not None and var.is_leaf
                  and var.requires_grad and d.code in _CUT_OFF and d.line == error.cause_line)
    d.severity = "warning" if raised_for else "info"


def _stopped_early(var, error: ErrorInfo) -> Diagnostic:
    """A run that stopped before its end (timed out, or past a limit): a None gradient then
    says nothing about the code, so none is diagnosed."""
    where = f" on line {error.line}" if error.line else ""
    return Diagnostic(var.name, error.code, error.line, "info",
                      f"The run stopped{where} before its end ({error.type}), so {var.name}.grad "
                      "is as the run left it there, and why it is None is not told.",
                      "Make the run shorter (fewer iterations or smaller tensors) to see it "
                      "through to the end.", expected=True)


def _diagnose_one(var, session, tensor, cuts: Cuts) -> Diagnostic:
    name = var.name
    if not var.requires_grad:
        cause = cuts.made_from_cut(tensor) if tensor is not None else None
        if cause is not None:
            return _made_from_cut(name, cause)
        off = cuts.last_set(tensor, ("requires_grad_", "requires_grad")) if tensor is not None \
            else None
        if off is not None and (off.detail or {}).get("required_grad", True):  # it changed
            return Diagnostic(name, "requires_grad_disabled", off.line, "info",
                              f"{name} stopped requiring grad on line {off.line}, so autograd no "
                              "longer tracks it.",
                              f"Remove the change on line {off.line}, or call "
                              f"{name}.requires_grad_() again before using it, if you want its "
                              "gradient.")
        if not _can_require_grad(tensor, var.dtype):
            return Diagnostic(name, "requires_grad_false", var.line, "info",
                              f"{name} is {var.dtype}: only floating point and complex tensors "
                              "can require grad, so it has no gradient.",
                              "It needs none if it holds indices, labels or counts. To train it, "
                              "make it floating point (dtype=torch.float32, requires_grad=True).",
                              expected=True)
        return Diagnostic(name, "requires_grad_false", var.line, "info",
                          f"{name} does not require grad, so autograd never computes a gradient "
                          "for it.",
                          f"Create it with requires_grad=True, or call {name}.requires_grad_() "
                          "before using it, if you want its gradient.", expected=True)
    if not var.is_leaf:
        moved = cuts.moved_leaf(tensor) if tensor is not None else None
        if moved is not None:  # randn(3, requires_grad=True).to(float64): the leaf stays behind
            return Diagnostic(name, "non_leaf", moved.line, "info",
                              f"{name} is not a leaf: the .{moved.op}() on line {moved.line} made "
                              "a copy of the leaf, and only the leaf's .grad is filled (an "
                              "optimizer refuses the copy too).",
                              f"Create the tensor on the device or dtype first (for example "
                              f"torch.randn(..., dtype=torch.float64, requires_grad=True)), or "
                              f"call .requires_grad_() after the move: "
                              f"{name} = ....{moved.op}(...).requires_grad_().")
        return Diagnostic(name, "non_leaf", var.line, "info",
                          f"{name} is not a leaf: autograd only fills .grad of leaf tensors.",
                          f"Call {name}.retain_grad() before backward to keep its gradient.",
                          expected=True)
    if session.pass_count == 0:
        return Diagnostic(name, "no_backward", var.line, "warning",
                          f"{name} requires grad, but no backward pass ran.",
                          "Call loss.backward() on a scalar result computed from it.")
    if session.pass_kinds == {"grad"}:
        return Diagnostic(name, "autograd_grad_only", var.line, "info",
                          "torch.autograd.grad returns gradients instead of storing them in "
                          f".grad, so {name}.grad stays None.",
                          "Use the tensors torch.autograd.grad returns, or call .backward().")
    stopped = _function_gave_none(var.node, session)
    if stopped is not None:
        fn, line = stopped
        return Diagnostic(name, "custom_function_none", line, "info",
                          f"{fn}.backward returned None for {name}, so no gradient reached it.",
                          f"Return a gradient for {name} from {fn}.backward instead of None; "
                          "or, if it should not train, create it without requires_grad=True.")
    if var.node is not None and var.node in session.executed_nodes:
        cleared = cuts.last_set(tensor, ("grad",)) if tensor is not None else None
        line = cleared.line if cleared is not None else var.line
        if cleared is not None and "zero_grad" in (cleared.span or ""):  # a training step's end
            return Diagnostic(name, "grad_cleared", line, "info",
                              f"zero_grad on line {line} cleared {name}.grad (set_to_none=True, "
                              "its default), as a training step does.",
                              "Read the gradients before zero_grad, or call "
                              "zero_grad(set_to_none=False) to keep them as zeros.", expected=True)
        where = f" on line {line}" if cleared is not None else " afterwards"
        return Diagnostic(name, "grad_cleared", line, "warning",
                          f"A backward pass reached {name}, but its .grad was set to None{where}.",
                          f"Read {name}.grad before that line, or clear it with zero_grad() "
                          "(set_to_none=False) if you need it to stay a tensor.")
    cause = cuts.cut_from(tensor) if tensor is not None else None
    if cause is not None:
        return _cut_off(name, cause)
    failed = _failed_pass_over(var.node, session)
    if failed is not None:
        return Diagnostic(name, "backward_failed", failed.line, "info",
                          f"The backward pass on line {failed.line} would have reached {name}, "
                          f"but it raised first ({failed.error.split(':', 1)[0]}).",
                          f"Fix the error of line {failed.line} (Problems says why it raised); "
                          f"then {name}.grad fills in.")
    return Diagnostic(name, "not_connected", var.line, "warning",
                      f"{name} requires grad, but no backward pass reached it: the loss does not "
                      "depend on it.",
                      f"Check that {name} is used in the computation of the tensor you call "
                      "backward on.")


def _function_gave_none(node: int | None, session) -> tuple[str, int | None] | None:
    """(Function name, line) when every pass that reached the leaf ``node`` brought it None,
    and what sent it is a custom autograd.Function: its backward returned None for it."""
    if node is None:
        return None
    arrived = [s for p in session.passes for s in p.steps if s.node == node and s.kind == "node"]
    if not arrived or any(g is not None for s in arrived for g in s.grad_in):
        return None
    records = {rec.node.id: rec.node for rec in session.graph.records}
    for edge in session.graph.edges:
        consumer = records.get(edge.dst)
        if edge.src == node and consumer is not None and consumer.kind == "function":
            return consumer.name, consumer.line
    return None


def _failed_pass_over(node: int | None, session):
    """The pass that raised before it reached the leaf ``node``, if one would have."""
    failed = [p for p in session.passes if p.error is not None and p.roots]
    if node is None or not failed:
        return None
    sources: dict[int, list[int]] = {}  # node -> the nodes its gradient goes on to
    for edge in session.graph.edges:
        sources.setdefault(edge.dst, []).append(edge.src)
    for p in failed:
        seen, stack = set(p.roots), list(p.roots)
        while stack:
            for src in sources.get(stack.pop(), ()):
                if src not in seen:
                    seen.add(src)
                    stack.append(src)
        if node in seen:
            return p
    return None


def _cutter(cause: Cause) -> str:
    """How the message names the cutting call: `.detach`, or `torch.tensor()` for a copy."""
    return f"torch.{cause.op}()" if cause.op in COPYING else f".{cause.op}"


def _clone(cause: Cause) -> str:
    """For a torch.tensor() copy, the call that copies and keeps the history."""
    if cause.listed and cause.stacks:
        return (" (torch.stack of the same tensors builds the same tensor and keeps their "
                "gradients: gradtrace tried it on copies)")
    if cause.listed:
        return (" (to make one tensor of several and keep their gradients, use torch.stack or "
                "torch.cat instead of torch.tensor)")
    return " (to copy and keep the gradient, use .clone())" if cause.op in COPYING else ""


_INDICES = frozenset({"argmax", "argmin", "argsort", "sort", "topk", "max", "min", "kthvalue",
                      "mode", "median", "nanmedian", "nonzero", "argwhere", "where",
                      "searchsorted", "bucketize", "unique", "unique_consecutive", "multinomial"})
_COMPARISONS = frozenset({"eq", "ne", "gt", "lt", "ge", "le", "greater", "less", "equal",
                          "greater_equal", "less_equal", "not_equal", "isnan", "isinf",
                          "isfinite", "isclose", "logical_and", "logical_or", "logical_not",
                          "logical_xor", "and", "or", "xor", "invert", "signbit", "isin"})
_CASTS = frozenset({"long", "int", "short", "char", "byte", "bool", "to", "type", "int_repr"})


def _no_gradient(op: str) -> tuple[str, str]:
    """Why ``op``'s result has no gradient, and what to use instead."""
    if op in _INDICES:
        return ("its result is an index",
                "compute the loss from values, not indices (a classifier: F.cross_entropy on "
                "the logits); values picked with the indices, by indexing or gather, keep "
                "their gradient")
    if op in _COMPARISONS:
        return ("its result is true or false",
                "use the comparison only as a mask (torch.where(mask, a, b), or a * mask), or "
                "a smooth stand-in such as torch.sigmoid((a - b) / 0.1)")
    if op in _CASTS:
        return ("its result is integer: only floating point tensors carry gradients",
                "keep the tensor floating point: drop the cast, or cast only what is read "
                "after the loss is computed")
    return (f"{op} gives a result that autograd cannot differentiate",
            f"compute the loss through a differentiable op instead of {op}")


def _no_gradient_fix(cause: Cause, where: str) -> str:
    return f"On {where}, {_no_gradient(cause.op)[1]}."



def _made_from_cut(name: str, cause: Cause) -> Diagnostic:
    """A tensor with no graph, because something it was made from was cut off at ``cause``."""
    where = f"line {cause.line}" if cause.line else "an earlier line"
    if cause.code == "detached":
        return Diagnostic(
            name, "detached", cause.line, "info",
            f"{name} has no gradient: it was made from a tensor that {_cutter(cause)} cut from "
            f"the graph on {where}.",
            f"Use the tensor itself instead of {_cutter(cause)} on {where} where its gradient "
            f"should flow{_clone(cause)}; detach only what must not be trained.")
    if cause.code == "left_graph":
        return Diagnostic(
            name, "left_graph", cause.line, "info",
            f"{name} has no gradient: it was rebuilt from Python numbers that left the graph "
            f"through .{cause.op}() on {where}, and a new tensor has no history.",
            f"Keep the values as tensors instead of .{cause.op}() on {where}: index, slice or "
            "torch.stack them, so that autograd can follow.")
    if cause.code == "non_differentiable":
        why, _ = _no_gradient(cause.op)
        return Diagnostic(
            name, cause.code, cause.line, "info",
            f"{name} has no gradient: it was made through {cause.op} on {where}, which has "
            f"none ({why}).",
            _no_gradient_fix(cause, where))
    op_where, block = _no_grad_places(cause)
    return Diagnostic(
        name, "no_grad", cause.line, "info",
        f"{name} has no gradient: the {cause.op} on {op_where} ran {block}, so autograd "
        "recorded nothing.",
        f"Move the computation on {op_where} out of the {cause.block} block if you need its "
        "gradient.")


def _no_grad_places(cause: Cause) -> tuple[str, str]:
    """Where the op ran, and the block it ran in: the snippet's own `with torch.no_grad():`
    line when it was the snippet's, else grad mode as the op found it."""
    if cause.op_line is not None:
        return f"line {cause.op_line}", f"under the {cause.block} of line {cause.line}"
    where = f"line {cause.line}" if cause.line else "an earlier line"
    return where, "under torch.no_grad() (or inference mode)"


def _cut_off(name: str, cause: Cause) -> Diagnostic:
    """A leaf that requires grad, which no pass reached because its use was cut at ``cause``."""
    where = f"line {cause.line}" if cause.line else "an earlier line"
    if cause.code == "detached":
        return Diagnostic(
            name, cause.code, cause.line, "warning",
            f"No backward pass reached {name}: the path from it to the loss is cut on {where} "
            f"by {_cutter(cause)}.",
            f"Use the tensor itself instead of {_cutter(cause)} on {where} if the loss should "
            f"depend on {name}{_clone(cause)}.")
    if cause.code == "left_graph":
        return Diagnostic(
            name, cause.code, cause.line, "warning",
            f"No backward pass reached {name}: its value left the graph through .{cause.op}() on "
            f"{where}, and what came back is a new tensor with no history.",
            f"Keep the values as tensors instead of .{cause.op}() on {where}: index, slice or "
            "torch.stack them.")
    if cause.code == "non_differentiable":
        why, _ = _no_gradient(cause.op)
        return Diagnostic(
            name, cause.code, cause.line, "warning",
            f"No backward pass reached {name}: its path to the loss goes through {cause.op} on "
            f"{where}, which has no gradient ({why}).",
            _no_gradient_fix(cause, where))
    op_where, block = _no_grad_places(cause)
    return Diagnostic(
        name, cause.code, cause.line, "warning",
        f"No backward pass reached {name}: it was used by the {cause.op} on {op_where}, which "
        f"ran {block}, so autograd recorded nothing.",
        f"Move the computation on {op_where} out of the {cause.block} block.")
