"""Where a tensor left the graph: the recorded step that cut it off, for the doctor.

The forward recorder keeps every step's input and output tensors (by id) and the grad mode it
ran in. So the cause of a missing gradient is read from the recording, never from the source:
- a tensor that does not require grad was made, through its producers, from a cut: a
  `.detach()`, `.data`, `torch.tensor(t)` or `torch.tensor([a, b])` copy (code ``detached``),
  a number that left through `.item()` and came back as a new tensor (``left_graph``), an op
  run under `torch.no_grad()` (``no_grad``), or an op with no gradient: argmax, a comparison,
  an integer cast (``non_differentiable``, recorded as a step whose cut is its own op);
- a leaf that requires grad and that no backward pass reached was taken out of the graph by its
  consumers in the same ways.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

DETACHING = frozenset({"detach", "detach_", "data"})  # cut steps whose result is a tensor
COPYING = frozenset({"tensor", "as_tensor"})  # torch.tensor(t): a copy with no history
MOVES = frozenset({"to", "double", "float", "half", "bfloat16", "cuda", "cpu", "type"})
_MAX_WALK = 10_000  # steps looked at for one tensor: a long loop's chain ends the walk early


class Cause(NamedTuple):
    code: str  # detached, left_graph, no_grad or non_differentiable
    line: int | None  # where the graph was cut
    op: str  # the cutting op: detach, data, item, ..., argmax, or the op run under no_grad
    op_line: int | None = None  # no_grad: the op's own line, when ``line`` is its block's
    block: str = "torch.no_grad()"  # no_grad: what turned gradients off
    listed: bool = False  # detached by torch.tensor([a, b]): copies of tensors in a list
    stacks: bool | None = None  # listed: torch.stack of them, tried, made the same tensor


class Cuts:
    """The session's steps, indexed by the tensors they made and used."""

    def __init__(self, session):
        self._session = session
        self._alive = session.tensors.alive()
        self._by_index = {s.index: s for s in session.steps}
        self._consumers: dict[int, list] = {}
        for step in session.steps:
            for tid in step.inputs:
                self._consumers.setdefault(tid, []).append(step)

    def made_from_cut(self, t) -> Cause | None:
        """Why ``t`` (which does not require grad) has no graph: the nearest cut among the steps
        that made it, walking back through their inputs."""
        return self._nearest_cut(t, lambda tid: filter(None, [self._producer(tid)]),
                                 lambda step: step.inputs)

    def cut_from(self, t) -> Cause | None:
        """Why no backward pass reached ``t`` (which requires grad): the nearest cut among the
        steps that used it, walking forward through what they made."""
        return self._nearest_cut(t, lambda tid: self._consumers.get(tid, ()),
                                 lambda step: step.outputs, leaving=True)

    def _nearest_cut(self, t, steps_of, onward, leaving: bool = False) -> Cause | None:
        """Breadth first from ``t``: each tensor's ``steps_of``, and from each step the tensors
        ``onward``; the first step that cuts (``_cut_by``)."""
        tid = self._session.tensors.find(t)
        queue, seen = deque([tid] if tid is not None else []), set()
        while queue and len(seen) < _MAX_WALK:
            tid = queue.popleft()
            if tid in seen:
                continue
            seen.add(tid)
            for step in steps_of(tid):
                cause = self._cut_by(step, leaving)
                if cause is not None:
                    return cause
                queue.extend(onward(step))
        return None

    def last_set(self, t, fields: tuple[str, ...]):
        """The last step that set one of ``fields`` of ``t`` (`.grad = None` is a "set" of
        "grad"; `requires_grad_(False)` an op "requires_grad_"), or None."""
        tid = self._session.tensors.find(t)
        found = None
        for step in self._consumers.get(tid, ()) if tid is not None else ():
            if step.op in fields and step.kind in ("set", "op"):
                found = step
        return found

    def moved_leaf(self, t):
        """The step, if ``t`` was made by moving a leaf that requires grad to another device or
        dtype (`.to()`, `.double()`, `.cuda()`, ...): the copy is not a leaf."""
        tid = self._session.tensors.find(t)
        step = self._producer(tid) if tid is not None else None
        if step is None or step.op not in MOVES or not step.inputs:
            return None
        source = self._alive.get(step.inputs[0])
        return step if source is not None and source.is_leaf and source.requires_grad else None

    def made_at(self, t, origin: bool = False) -> int | None:
        """The line of the step that made ``t``; with ``origin``, where what it was made from
        began: walking back through the steps that made it, the first that had no tensor
        inputs (`torch.tensor(...)`, `torch.ones(...)`)."""
        tid = self._session.tensors.find(t)
        first = self._producer(tid) if tid is not None else None
        queue, seen = deque([tid] if first is not None and origin else []), set()
        while queue and len(seen) < _MAX_WALK:
            tid = queue.popleft()
            if tid in seen:
                continue
            seen.add(tid)
            step = self._producer(tid)
            if step is not None and not step.inputs:
                return step.line
            queue.extend(step.inputs if step is not None else ())
        return first.line if first is not None else None

    def clobbered(self, node_name: str | None, graph) -> int | None:
        """The line of the in-place op that changed a tensor a node saved: the last in-place
        step on an output of a step that made a node named ``node_name`` (or, when the error
        names none, the last in-place step at all)."""
        made = set()
        if node_name:
            for rec in graph.records:
                if rec.node.name == node_name and rec.node.step in self._by_index:
                    made.update(self._by_index[rec.node.step].outputs)
        found = None
        for step in self._session.steps:
            if step.kind == "op" and (step.op.endswith("_") or step.op == "setitem") and (
                    not made or made & set(step.inputs)):
                found = step
        return found.line if found is not None else None

    def _producer(self, tid: int):
        found = self._session.tensors.made_by(tid)
        return self._by_index.get(found) if found is not None else None

    def _cut_by(self, step, leaving: bool = False) -> Cause | None:
        """The cut ``step`` makes, if it makes one. ``leaving``: walking forward, where a value
        that leaves as a Python number (.item(), .tolist()) is a cut too."""
        if step.kind == "cut":
            detail = step.detail or {}
            if detail.get("cut") in DETACHING:
                return Cause("detached", step.line, detail["cut"])
            if detail.get("cut") == "tensor" and step.inputs:  # torch.tensor([a, b])
                return Cause("detached", step.line, step.op, listed=True,
                             stacks=self._stacks(step))
            if leaving and detail.get("cut") != "tensor":
                return Cause("left_graph", step.line, detail.get("cut") or step.op)
            origin = detail.get("from_cut")
            if origin is not None:  # a number that left through .item() came back here
                source = self._by_index.get(origin)
                return Cause("left_graph", source.line if source else step.line,
                             source.op if source else step.op)
            return None
        if step.kind == "op" and step.op in COPYING and step.inputs:  # torch.tensor(t)
            return Cause("detached", step.line, step.op)
        block = (step.detail or {}).get("cut")
        if step.kind == "op" and block == step.op:  # argmax, a comparison, an integer cast
            return Cause("non_differentiable", step.line, step.op)
        if block in ("no_grad", "inference_mode"):  # at the with line of the snippet's block
            return Cause("no_grad", step.detail["cut_line"], step.op, step.line, f"torch.{block}()")
        if step.grad_mode != "grad" and step.inputs and any(
                self._requires_grad(tid) for tid in step.inputs):
            return Cause("no_grad", step.line, step.op)
        return None

    def _stacks(self, step) -> bool | None:
        """Whether torch.stack of what ``torch.tensor([a, b])`` copied builds a tensor of the
        same shape that keeps their history: the fix, tried on copies (None: they are gone)."""
        import torch

        inputs = [self._alive.get(tid) for tid in step.inputs]
        made = self._alive.get(step.outputs[0]) if step.outputs else None
        if made is None or any(t is None for t in inputs):
            return None
        try:
            stacked = torch.stack([t.detach().requires_grad_() for t in inputs])
        except (RuntimeError, TypeError, ValueError):
            return False
        return stacked.requires_grad and stacked.shape == made.shape

    def _requires_grad(self, tid: int) -> bool:
        t = self._alive.get(tid)
        return t is not None and t.requires_grad
