"""Where the snippet turned gradients off: the line of its `with torch.no_grad():` (or
`torch.inference_mode()`), of its `@torch.no_grad()` function's decorator, or of its
`torch.set_grad_enabled(False)`.

Every grad-mode change in Python goes through ``torch._C._set_grad_enabled`` (no_grad,
enable_grad and set_grad_enabled all call it), and inference mode through
``torch._C._InferenceMode``, so wrapping those two sees them all.
A change made by library code (an optimizer's step turns gradients off for its update) is not
the snippet's own, so the ops it covers are not drawn or diagnosed as the snippet's cut.
"""

from __future__ import annotations

import contextlib
import sys

import torch

# The frames between the wrapper and the code that asked for the change: torch's grad-mode
# classes and the decorator that turns them into function wrappers.
_GRAD_MODE_FILES = ("autograd/grad_mode.py", "utils/_contextlib.py")


@contextlib.contextmanager
def grad_mode_tap(session):
    """Keep ``session.no_grad_line`` up to date while the snippet runs."""
    original = torch._C._set_grad_enabled
    original_inference = torch._C._InferenceMode
    filename = session.source.filename

    inside = []  # the original dispatches to the forward recorder's mode, which calls this again

    def set_grad_enabled(mode):
        if inside:
            return original(mode)
        if not mode and torch.is_grad_enabled() and not session.suspended:
            session.no_grad_line = _asked_from(filename)
        elif mode:
            session.no_grad_line = None
        inside.append(mode)
        try:
            return original(mode)
        finally:
            inside.pop()

    def inference_mode(mode=True):
        if mode and not torch.is_inference_mode_enabled() and not session.suspended:
            session.no_grad_line = _asked_from(filename)
        return original_inference(mode)

    torch._C._set_grad_enabled = set_grad_enabled
    torch._C._InferenceMode = inference_mode
    try:
        yield
    finally:
        torch._C._set_grad_enabled = original
        torch._C._InferenceMode = original_inference
        session.no_grad_line = None


def _asked_from(filename: str) -> int | None:
    """The snippet's line when the snippet itself asked for the change, else None. A function
    the snippet decorated with `@torch.no_grad()` is named by its decorator's line."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.endswith(_GRAD_MODE_FILES):
        code = getattr(frame.f_locals.get("func"), "__code__", None)  # _contextlib's wrapper
        if code is not None and code.co_filename == filename:
            return code.co_firstlineno  # a decorated function's first line is its decorator's
        frame = frame.f_back
    if frame is not None and frame.f_code.co_filename == filename:
        return frame.f_lineno
    return None
