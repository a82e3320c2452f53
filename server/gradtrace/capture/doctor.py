"""Why a gradient is None, and what an exception means: codes from the contract, with lines.

This is the first layer of the doctor: it names the code and the line of the cause where the
recording shows it plainly. Deeper cause tracing builds on the same records.
"""

from __future__ import annotations

import traceback

from gradtrace.protocol import Diagnostic, ErrorInfo

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


def classify_error(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return "syntax_error"
    if isinstance(exc, MemoryError):
        return "memory_limit"
    message = str(exc)
    for needle, code in _ERROR_PATTERNS:
        if needle in message:
            return code
    return "user_exception"


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


def error_info(exc: BaseException, filename: str) -> ErrorInfo:
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return ErrorInfo(type=type(exc).__name__, message=short_message(message.strip()),
                     line=snippet_line(exc, filename), code=classify_error(exc))


def diagnose(variables, session) -> list[Diagnostic]:
    """One Diagnostic for every variable whose .grad is None at the end of the run."""
    return [_diagnose_one(var, session) for var in variables if var.grad is None]


def _diagnose_one(var, session) -> Diagnostic:
    name = var.name
    if not var.requires_grad:
        return Diagnostic(name, "requires_grad_false", var.line, "info",
                          f"{name} does not require grad, so autograd never computes a gradient "
                          "for it.",
                          f"Create it with requires_grad=True, or call {name}.requires_grad_() "
                          "before using it, if you want its gradient.")
    if not var.is_leaf:
        return Diagnostic(name, "non_leaf", var.line, "info",
                          f"{name} is not a leaf: autograd only fills .grad of leaf tensors.",
                          f"Call {name}.retain_grad() before backward to keep its gradient.")
    if session.pass_count == 0:
        return Diagnostic(name, "no_backward", var.line, "warning",
                          f"{name} requires grad, but no backward pass ran.",
                          "Call loss.backward() on a scalar result computed from it.")
    if session.pass_kinds == {"grad"}:
        return Diagnostic(name, "autograd_grad_only", var.line, "info",
                          "torch.autograd.grad returns gradients instead of storing them in "
                          f".grad, so {name}.grad stays None.",
                          "Use the tensors torch.autograd.grad returns, or call .backward().")
    if var.node is not None and var.node in session.executed_nodes:
        return Diagnostic(name, "grad_cleared", var.line, "warning",
                          f"A backward pass reached {name}, but its .grad was cleared afterwards.",
                          "Read the gradient before zero_grad(set_to_none=True) or "
                          f"{name}.grad = None.")
    return Diagnostic(name, "not_connected", var.line, "warning",
                      f"{name} requires grad, but no backward pass reached it: the loss does not "
                      "depend on it.",
                      f"Check that {name} is used in the computation of the tensor you call "
                      "backward on.")
