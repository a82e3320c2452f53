"""Backward recording: one Pass per ``.backward()``, ``torch.autograd.backward`` or
``torch.autograd.grad``, with the nodes in the exact order the engine ran them.

Before the engine starts, the whole graph reachable from the roots is walked (iteratively), its
saved tensors are snapshotted, and a pre-hook and a post-hook are put on every node. The hooks only
keep references: summaries are computed after the pass, never inside hooks. All handles are
removed in ``finally``, whether the engine succeeded or raised.
"""

from __future__ import annotations

import contextlib
import inspect
from functools import partial

import torch

from gradtrace.capture.doctor import short_message
from gradtrace.capture.values import fmt
from gradtrace.protocol import BackwardStep, Pass, backward_event

_BACKWARD_SIG = inspect.signature(torch.autograd.backward)
_GRAD_SIG = inspect.signature(torch.autograd.grad)


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, torch.Tensor):
        return [x]
    return list(x)


class _GradSummaries:
    """Summaries of a pass's gradients. The tensor a node sends along an edge is usually the one
    the next node receives, so each tensor is summarised once (the pass holds them all alive,
    so their ids are stable)."""

    def __init__(self, batch):
        self.batch = batch
        self.seen: dict[int, dict] = {}

    def one(self, g):
        if not isinstance(g, torch.Tensor):
            return None
        found = self.seen.get(id(g))
        if found is None:
            found = self.seen[id(g)] = self.batch.of(g)
        return found

    def all(self, grads) -> list:
        return [self.one(g) for g in grads or ()]


class PassRecorder:
    """Wraps the autograd entry points while a capture is active."""

    def __init__(self, session):
        self.session = session

    @contextlib.contextmanager
    def installed(self):
        originals = {"backward": torch.autograd.backward, "grad": torch.autograd.grad}
        try:
            torch.autograd.backward = self._wrap(originals["backward"], "backward",
                                                 _BACKWARD_SIG, "tensors")
            torch.autograd.grad = self._wrap(originals["grad"], "grad", _GRAD_SIG, "outputs")
            yield
        finally:
            for name, fn in originals.items():
                setattr(torch.autograd, name, fn)

    def _wrap(self, original, kind: str, signature, roots_arg: str):

        def wrapper(*args, **kwargs):
            if self.session.suspended:  # nested (e.g. reentrant checkpoint) or re-dispatched
                return original(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            options = bound.arguments
            return self._record(kind, original, args, kwargs, _as_list(options[roots_arg]),
                                bool(options.get("retain_graph") or options.get("create_graph")),
                                bool(options.get("create_graph")))

        wrapper.__name__ = kind
        wrapper.__qualname__ = kind
        wrapper.__doc__ = original.__doc__
        return wrapper

    def _record(self, kind, original, args, kwargs, roots, retain_graph, create_graph):
        session = self.session
        line, span = session.source.locate(2)
        with session.suspend():
            return self._run_pass(kind, original, args, kwargs, roots, retain_graph,
                                  create_graph, line, span)

    def _run_pass(self, kind, original, args, kwargs, roots, retain_graph, create_graph, line,
                  span):
        session = self.session
        index = session.pass_count
        session.pass_count += 1
        session.pass_kinds.add(kind)
        graph = session.graph
        root_fns = [t.grad_fn for t in roots if isinstance(t, torch.Tensor)]
        reach = graph.discover([f for f in root_fns if f is not None], pass_=index,
                               collect_all=True)
        for rec in reach:
            graph.snapshot_saved(rec)
        loss = _scalar(roots[0]) if len(roots) == 1 else None
        session.losses.append(loss)
        record = Pass(
            index=index, kind=kind, line=line, span=span, after_step=session.step_count - 1,
            roots=[graph.get(f).node.id for f in root_fns if f is not None and graph.get(f)],
            loss=loss, retain_graph=retain_graph, create_graph=create_graph,
        )
        session.announce_pass(record)
        events: list = []
        grads_out: dict[int, tuple] = {}
        session.pass_events = events
        result = None
        try:
            with contextlib.ExitStack() as hooks:
                for rec in reach:
                    hooks.callback(rec.fn.register_prehook(partial(_on_pre, events, rec)).remove)
                    hooks.callback(rec.fn.register_hook(partial(_on_post, grads_out, rec)).remove)
                result = original(*args, **kwargs)
        except BaseException as exc:
            record.error = short_message(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            session.pass_events = None
            record.steps = _backward_steps(events, grads_out, _GradSummaries(session.summaries))
            session.executed_nodes.update(s.node for s in record.steps if s.node is not None)
            if create_graph and record.error is None:
                created = _discover_created(graph, reach, result, index)
                for rec in created:
                    rec.node.op, rec.node.line, rec.node.span = kind, line, span
                record.created_nodes = [rec.node.id for rec in created]
            start = session.passes[-1].after_step + 1 if session.passes else 0
            session.emit(backward_event(record), urgent=True)
            session.keep_pass(record, (start, record.after_step))
        return result


def _on_pre(events, rec, grad_outputs):
    before = None
    if rec.variable is not None and rec.variable.grad is not None:
        before = rec.variable.grad.clone()  # AccumulateGrad adds into .grad in place
    events.append(("node", rec, grad_outputs, before))


def _on_post(grads_out, rec, grad_inputs, grad_outputs):
    grads_out[rec.node.id] = grad_inputs


def _backward_steps(events, grads_out, summaries: _GradSummaries) -> list[BackwardStep]:
    steps = []
    for order, event in enumerate(events):
        if event[0] == "hook":
            _, detail, grad_in, grad_out = event
            steps.append(BackwardStep(order, None, summaries.all(grad_in), summaries.all(grad_out),
                                      kind="hook", detail=detail))
            continue
        _, rec, grad_outputs, before = event
        detail = None
        if rec.variable is not None:
            detail = {"grad_before": summaries.one(before),
                      "grad_after": summaries.one(rec.variable.grad)}
        steps.append(BackwardStep(order, rec.node.id, summaries.all(grad_outputs),
                                  summaries.all(grads_out.get(rec.node.id, ())), detail=detail))
    return steps


def _discover_created(graph, reach, result, index) -> list:
    """Nodes that a create_graph pass built: reachable from the new gradients."""
    grads = [rec.variable.grad for rec in reach if rec.variable is not None]
    grads += [g for g in _as_list(result) if isinstance(g, torch.Tensor)]
    roots = [g.grad_fn for g in grads if g is not None and g.grad_fn is not None]
    return graph.discover(roots, pass_=index)


def _scalar(t):
    if isinstance(t, torch.Tensor) and t.numel() == 1 and not (t.is_meta or t.is_complex()):
        return fmt(t.detach().reshape(()).item())
    return None
