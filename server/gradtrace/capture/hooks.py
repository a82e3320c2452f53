"""The user's own hooks, seen firing: tensor hooks, module forward hooks and module backward hooks.

While a capture is active, the registration methods wrap each user hook so that its firing becomes
an event: a forward Step for forward hooks, a hook entry in the running Pass for backward and
tensor hooks, with the gradient before and after the hook (so its effect is visible).
"""

from __future__ import annotations

import contextlib
import functools

import torch

from gradtrace.capture.forward import tensors_in

_MODULE_HOOKS = {
    "register_forward_pre_hook": "forward_pre",
    "register_forward_hook": "forward",
    "register_full_backward_pre_hook": "backward_pre",
    "register_full_backward_hook": "backward",
}


def _clone_all(grads):
    if isinstance(grads, torch.Tensor):
        return [grads.clone()]
    return [g.clone() if isinstance(g, torch.Tensor) else None for g in grads or ()]


def _as_grads(result, fallback):
    if result is None:
        return _clone_all(fallback)
    return _clone_all(result)


class HookTap:
    """Installs and removes the registration wrappers; records firings into the session."""

    def __init__(self, session):
        self.session = session

    @contextlib.contextmanager
    def installed(self):
        with contextlib.ExitStack() as undo:
            self._patch(undo, torch.Tensor, "register_hook", self._tensor_register)
            for method, kind in _MODULE_HOOKS.items():
                self._patch(undo, torch.nn.Module, method,
                            functools.partial(self._module_register, kind))
            yield

    def _patch(self, undo: contextlib.ExitStack, owner, name, make):
        original = getattr(owner, name)
        undo.callback(setattr, owner, name, original)

        @functools.wraps(original)
        def patched(obj, hook, *args, **kwargs):
            if self.session.suspended or not callable(hook):
                return original(obj, hook, *args, **kwargs)
            with self.session.suspend():  # the registration re-dispatches through the mode
                return original(obj, make(obj, hook), *args, **kwargs)

        setattr(owner, name, patched)

    def _registered_at(self) -> int | None:
        return self.session.source.locate(3)[0]

    def _tensor_register(self, tensor, hook):
        session = self.session
        session.user_grad_hooks = True
        session.flush()  # tensor ids are given in order of appearance: recorded calls first
        target = next((name for name, value in session.namespace.items() if value is tensor), None)
        detail = {"hook": "tensor", "tensor": session.tensors.id_of(tensor), "target": target,
                  "registered_line": self._registered_at(), "name": _hook_name(hook)}

        @functools.wraps(hook)
        def fired(grad):
            before = grad.clone()
            result = hook(grad)
            if session.pass_events is not None:
                session.pass_events.append(("hook", dict(detail), [before],
                                            _as_grads(result, grad)))
            return result

        return fired

    def _module_register(self, kind, module, hook):
        session = self.session
        detail = {"hook": kind, "module": session.module_path(module),
                  "registered_line": self._registered_at(), "name": _hook_name(hook)}

        if kind.startswith("backward"):
            session.user_grad_hooks = True

        @functools.wraps(hook)
        def fired(mod, *args, **kwargs):
            if kind.startswith("backward"):
                before = _clone_all(args[0])
                result = hook(mod, *args, **kwargs)
                if session.pass_events is not None:
                    session.pass_events.append(("hook", dict(detail), before,
                                                _as_grads(result, args[0])))
                return result
            result = hook(mod, *args, **kwargs)
            line, span = session.source.locate(1)
            output = result if result is not None else (args[-1] if kind == "forward" else ())
            outputs = tensors_in(output)
            session.record("hook", kind, line, span, [], outputs, detail=dict(detail))
            return result

        return fired


def _hook_name(hook) -> str:
    return getattr(hook, "__qualname__", None) or type(hook).__name__
