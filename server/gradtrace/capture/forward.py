"""Forward recording: every torch call the snippet makes, in execution order.

A TorchFunctionMode sees every torch function and Tensor method. Inside ``__torch_function__`` the
mode is popped, so the ops a composite such as F.normalize runs internally are not seen separately:
the composite is one step, and every autograd node it created is found by walking from its outputs
to the nodes already known (graph.discover), so each node belongs to exactly one step.

A custom autograd.Function is one step: ``Function.apply`` is wrapped and the ops inside its
forward are not recorded (``session.suspended``).

Recording is deferred (Session.record): a call keeps references, and its summaries are computed
in bulk later. So before any call that may change a recorded tensor in place (an in-place op,
``out=``, ``inplace=True``, ``.data = ...``), or hand its memory to code we cannot see (numpy,
DLPack), the session flushes what it holds.
"""

from __future__ import annotations

import sys

import torch
from torch.overrides import TorchFunctionMode

from gradtrace.capture.values import fmt

# Calls that are not steps: queries, printing, and calls recorded elsewhere (backward passes by
# backward.py, hooks by hooks.py). Names are the raw ``__name__`` of the torch function.
_SKIP = frozenset({
    "__repr__", "__str__", "__format__", "__len__", "__iter__", "__contains__", "__hash__",
    "__array__", "__reduce_ex__", "__deepcopy__", "__setstate__", "__getstate__", "__dlpack__",
    "size", "dim", "numel", "stride", "storage_offset", "element_size", "nelement", "ndimension",
    "data_ptr", "untyped_storage", "is_contiguous", "is_floating_point", "is_complex",
    "get_device", "type", "backward", "grad", "register_hook", "retain_grad",
    "register_post_accumulate_grad_hook", "is_nonzero", "equal", "allclose",
})
# Calls whose result leaves the autograd graph.
_CUTS = frozenset({
    "detach", "detach_", "item", "tolist", "numpy", "__float__", "__int__", "__bool__",
    "__index__", "__complex__", "data.__get__",
})
_SETTERS = frozenset({"grad.__set__", "data.__set__", "requires_grad.__set__"})
_FACTORIES = frozenset({"tensor", "as_tensor"})
_REFLECTED = {"__radd__", "__rsub__", "__rmul__", "__rtruediv__", "__rfloordiv__", "__rpow__",
              "__rmatmul__", "__rmod__", "__rand__", "__ror__", "__rxor__"}
_INPLACE = {"__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__ipow__",
            "__imatmul__", "__imod__", "__iand__", "__ior__", "__ixor__"}

# Calls whose result shares the tensor's memory with code that autograd cannot see.
_ALIASING = frozenset({"numpy", "__array__", "__dlpack__"})

_CATEGORIES: dict = {}


# Whether a call may change a tensor it is given (classify's third item). A getter or __repr__
# never does: counting them (their names end in "_") flushed on every `.requires_grad` read.
NO_WRITE = 0
WRITES = 1  # an in-place op, `.data = `, or memory handed to numpy or DLPack
ALIASES = 2  # `.data`: an alias whose own writes are seen, but by a lean pass under another id


def classify(func) -> tuple[str, str, int]:
    """(category, readable name, NO_WRITE, WRITES or ALIASES) of a torch function; cached, since
    this runs for every call.

    Categories: "skip", "read" (of .grad), "cut", "set", "factory" or "op". Names: ``__rmul__``
    is "mul", ``__iadd__`` is "add_", a property getter is "data.__get__"."""
    found = _CATEGORIES.get(func)
    if found is None:
        raw = getattr(func, "__name__", None) or repr(func)
        if raw in ("__get__", "__set__"):
            raw = f"{getattr(getattr(func, '__self__', None), '__name__', '?')}.{raw}"
        if raw == "grad.__get__":
            found = ("read", "grad")
        elif raw in _CUTS:
            found = ("cut", raw.split(".")[0].strip("_"))
        elif raw in _SETTERS:
            found = ("set", raw.split(".")[0])
        elif raw in _SKIP or raw.endswith((".__get__", ".__set__")):
            found = ("skip", raw)
        elif raw in _FACTORIES:
            found = ("factory", raw)
        elif raw in _REFLECTED:
            found = ("op", raw[3:-2])
        elif raw in _INPLACE:
            found = ("op", raw[3:-2] + "_")
        elif raw.startswith("__") and raw.endswith("__"):
            found = ("op", raw[2:-2])
        else:
            found = ("op", raw)
        category, name = found
        in_place = category == "op" and name.endswith("_") and not name.endswith("__")
        if raw == "data.__get__":
            writes = ALIASES
        else:
            writes = WRITES if in_place or raw in _WRITES or name in _WRITES else NO_WRITE
        found = (category, name, writes)
        _CATEGORIES[func] = found
    return found


_TENSOR = torch.Tensor
_SEQUENCE = (list, tuple)


def tensors_in(obj, limit: int = 64) -> list:
    """Tensors in a call's arguments or result: direct, or one level inside a list/tuple.
    (Runs twice for every op: written for speed.)"""
    if isinstance(obj, _TENSOR):
        return [obj]
    if not isinstance(obj, _SEQUENCE):
        return []
    found = []
    for item in obj if len(obj) <= limit else obj[:limit]:
        if isinstance(item, _TENSOR):
            found.append(item)
        elif isinstance(item, _SEQUENCE):
            found.extend(x for x in item[:limit] if isinstance(x, _TENSOR))
    return found


class ForwardRecorder(TorchFunctionMode):
    """Records each torch call as a Step of the session, then returns its real result."""

    def __init__(self, session):
        super().__init__()
        self.session = session

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if kwargs is None:
            kwargs = _NO_KWARGS
        session = self.session
        if session.suspended:
            return func(*args, **kwargs)
        category, name, writes = _CATEGORIES.get(func) or classify(func)
        if session.holding and (
                writes or kwargs and ("out" in kwargs or kwargs.get("inplace"))):
            session.before_write(_written_by(args, kwargs), alias_only=writes == ALIASES)
        if category == "skip":
            return func(*args, **kwargs)
        if category == "read":  # .grad: a None read is the user's question (the doctor's)
            result = func(*args, **kwargs)
            if result is None and args and not _clearing():
                session.read_none_grad(args[0])
            return result
        line, span = session.source.locate(1)
        switch = None  # requires_grad_(...) or .requires_grad = ...: whether it did before
        if name in _GRAD_SWITCHES and args and isinstance(args[0], _TENSOR):
            switch = {"required_grad": args[0].requires_grad}
        result = func(*args, **kwargs)
        if category == "op":
            outputs = tensors_in(result)
            if result is None and args and (name.endswith("_") or name == "setitem"):
                outputs = tensors_in(args[:1])  # in-place ops that return None (__setitem__)
            if outputs:
                session.record("op", name, line, span, tensors_in(args), outputs, detail=switch)
        elif category == "cut":
            self._record_cut(name, args, result, line, span)
        elif category == "set":
            session.record("set", name, line, span, tensors_in(args[:1]), [], detail=switch)
        elif args and isinstance(args[0], torch.Tensor):  # torch.tensor(t): a copy of a tensor
            session.record("op", name, line, span, tensors_in(args[:1]), tensors_in(result))
        else:
            self._record_new_leaf(name, args, result, line, span)
        return result

    def _record_cut(self, name, args, result, line, span):
        source = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if source is None or not (source.requires_grad or source.grad_fn is not None):
            return  # nothing left a graph
        outputs = tensors_in(result) if isinstance(result, torch.Tensor) else []
        detail = {"cut": name}
        if not outputs:
            detail["python_value"] = _python_value(result)
            self.session.remember_cut_value(result)
        self.session.record("cut", name, line, span, [source], outputs, detail=detail)

    def _record_new_leaf(self, name, args, result, line, span):
        detail = {"cut": "tensor"}
        origin = self.session.cut_origin(args[0] if args else None)
        if origin is not None:
            detail["from_cut"] = origin  # data that left the graph earlier re-enters it here
        # torch.tensor([a, b]) of tensors in a graph: copies of their values, with no history
        copied = [t for t in tensors_in(args[:1]) if t.requires_grad or t.grad_fn is not None]
        self.session.record("cut", name, line, span, copied, tensors_in(result), detail=detail)


# Besides in-place ops (`add_`): calls that change what a tensor holds (`t.data = ...`,
# `t[0] = ...`) or share its memory with numpy or DLPack.
_WRITES = frozenset({"data.__set__", "setitem"}) | _ALIASING
_NO_KWARGS: dict = {}
_GRAD_SWITCHES = frozenset({"requires_grad_", "requires_grad"})


def _clearing() -> bool:
    """Whether the caller is a zero_grad (an optimizer's or a module's): it reads every .grad
    to clear it, and finding one None there is no question of the user's."""
    frame = sys._getframe(2)
    for _ in range(6):  # zero_grad, under a decorator or two
        if frame is None:
            return False
        if frame.f_code.co_name == "zero_grad":
            return True
        frame = frame.f_back
    return False


def _written_by(args, kwargs) -> list:
    """The tensors a call that may mutate writes to (or hands to numpy): its self or first
    argument, and ``out=``."""
    targets = tensors_in(args[:1])
    out = kwargs.get("out") if kwargs else None
    if out is not None:
        targets += tensors_in(out)
    return targets


def _python_value(v):
    if isinstance(v, bool | int | float):
        return fmt(v)
    if isinstance(v, list):
        return f"list of {len(v)}"
    return type(v).__name__
