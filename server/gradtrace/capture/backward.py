"""Backward recording: one Pass per ``.backward()``, ``torch.autograd.backward`` or
``torch.autograd.grad``, with the nodes in the exact order the engine ran them.

Before the engine starts, the whole graph reachable from the roots is walked (iteratively), its
saved tensors are snapshotted, and a pre-hook is put on every node: it gives the engine's order and
the gradients each node receives. What a node sends along an edge is what the node at the other
end receives, unless that node has several consumers (the engine sums what they send) or something
may change the gradient on the way (a user's tensor hook) or the far end may not run
(``autograd.grad``, ``inputs=``): only then does the sender get a post-hook too. The hooks only
keep references; summaries are computed after the pass, never inside hooks. All handles are
removed in ``finally``, whether the engine succeeded or raised.
"""

from __future__ import annotations

import contextlib
import inspect
from collections import Counter
from functools import partial

import torch

from gradtrace.capture.doctor import short_message
from gradtrace.capture.graph import Graph
from gradtrace.capture.values import fmt
from gradtrace.protocol import BackwardStep, Pass, backward_event, pass_event

_BACKWARD_SIG = inspect.signature(torch.autograd.backward)
_GRAD_SIG = inspect.signature(torch.autograd.grad)


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, torch.Tensor):
        return [x]
    return list(x)


class _GradSummaries:
    """Summaries of a pass's gradients, each tensor summarised once (the pass holds them all
    alive, so their ids are stable). They are held, not copied: the summaries are flushed as
    soon as the pass ends, before anything else can change them."""

    def __init__(self, batch):
        self.batch = batch
        self.seen: dict[int, dict] = {}

    def one(self, g):
        if not isinstance(g, torch.Tensor):
            return None
        found = self.seen.get(id(g))
        if found is None:
            found = self.seen[id(g)] = self.batch.of(g, hold=True)
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

        names = tuple(signature.parameters)

        def wrapper(*args, **kwargs):
            if self.session.suspended:  # nested (e.g. reentrant checkpoint) or re-dispatched
                return original(*args, **kwargs)
            options = dict(zip(names, args, strict=False))  # a misfit raises in original
            options.update(kwargs)
            return self._record(kind, original, args, kwargs, _as_list(options.get(roots_arg)),
                                bool(options.get("retain_graph") or options.get("create_graph")),
                                bool(options.get("create_graph")),
                                options.get("inputs") is not None)

        wrapper.__name__ = kind
        wrapper.__qualname__ = kind
        wrapper.__doc__ = original.__doc__
        return wrapper

    def _record(self, kind, original, args, kwargs, roots, retain_graph, create_graph,
                has_inputs):
        session = self.session
        line, span = session.source.locate(2)
        with session.suspend():
            return self._run_pass(kind, original, args, kwargs, roots, retain_graph,
                                  create_graph, has_inputs, line, span)

    def _run_pass(self, kind, original, args, kwargs, roots, retain_graph, create_graph,
                  has_inputs, line, span):
        session = self.session
        lean = None
        if session.keeping is not None:
            session.flush()  # every recorded call becomes a step, its nodes found, before the pass
        else:
            lean = session.take_lean_segment()
        index = session.pass_count
        session.pass_count += 1
        session.pass_kinds.add(kind)
        loss = _scalar(roots[0]) if len(roots) == 1 else None
        session.losses.append(loss)
        record = Pass(index=index, kind=kind, line=line, span=span,
                      after_step=session.step_count - 1, roots=[], loss=loss,
                      retain_graph=retain_graph,
                      create_graph=create_graph)
        root_fns = [t.grad_fn for t in roots if isinstance(t, torch.Tensor)]
        root_fns = [f for f in root_fns if f is not None]
        if session.keeping is None and lean is None:  # given up: its loss is all it keeps
            try:
                return original(*args, **kwargs)
            except BaseException:
                session.failed_roots = [t for t in roots if isinstance(t, torch.Tensor)]
                raise
            finally:
                session.end_pass(record, None)
        graph = session.graph if lean is None else Graph(
            session.summaries, session.tensors, session.config.max_nodes, parent=session.graph)
        reach = graph.discover(root_fns, pass_=index, collect_all=True)
        if lean is None:
            for rec in reach:
                graph.snapshot_saved(rec)
            record.roots = [graph.get(f).node.id for f in root_fns if graph.get(f)]
            session.announce_pass(record)
        events: list = []
        grads_out: dict[int, tuple] = {}
        session.pass_events = events
        result = None
        handles = []
        exact = (kind == "grad" or has_inputs or session.user_grad_hooks
                 or session.config.watch_every_edge)
        senders = _senders_to_watch(graph, reach, exact)
        try:
            try:
                for rec in reach:
                    fn = rec.fn
                    handles.append(fn.register_prehook(partial(_on_pre, events, rec)))
                    if rec.node.id in senders:
                        handles.append(fn.register_hook(partial(_on_post, grads_out, rec)))
                result = original(*args, **kwargs)
            finally:
                for handle in handles:
                    handle.remove()
        except BaseException as exc:
            record.error = short_message(f"{type(exc).__name__}: {exc}")
            session.failed_roots = [t for t in roots if isinstance(t, torch.Tensor)]  # doctor
            raise
        finally:
            session.pass_events = None
            if lean is None:
                _complete(session, record, events, grads_out, graph, senders)
                if create_graph and record.error is None:
                    created = _discover_created(graph, reach, result, index)
                    for rec in created:
                        rec.node.op, rec.node.line, rec.node.span = kind, line, span
                    record.created_nodes = [rec.node.id for rec in created]
                session.emit(backward_event(record), urgent=True)
            else:
                _park(session, lean, record, graph, root_fns, events, grads_out, senders)
            session.end_pass(record, lean)
        return result


def _complete(session, record, events, grads_out, graph, senders, grads_after=None,
              ids=None) -> None:
    """Fill a kept pass's steps from what the hooks saw, and their summaries. ``ids`` renames a
    lean pass's scratch nodes to the kept graph's."""
    record.steps = _backward_steps(events, grads_out, graph, senders, record.error is not None,
                                   _GradSummaries(session.summaries), grads_after)
    session.summaries.flush()  # before anything (the next pass) changes the gradients
    if ids:
        for step in record.steps:
            step.node = ids.get(step.node, step.node)
    session.executed_nodes.update(s.node for s in record.steps if s.node is not None)


def _park(session, lean, record, scratch, root_fns, events, grads_out, senders) -> None:
    """What a lean pass needs to be kept later. The gradients are held as they are (the engine
    makes new ones), except each leaf's .grad, which the next pass may add into: copied."""
    lean.record, lean.scratch, lean.root_fns = record, scratch, root_fns
    lean.events, lean.grads_out, lean.senders = events, grads_out, senders
    for event in events:
        rec = event[1] if event[0] == "node" else None
        if rec is None:
            continue
        if rec.node.id >= 0:  # a node of the kept graph (a parameter's AccumulateGrad, say)
            session.executed_nodes.add(rec.node.id)
        if rec.variable is not None and rec.variable.grad is not None:
            lean.grads_after[rec.node.id] = rec.variable.grad.detach().clone()
        lean.elements += sum(g.numel() for g in event[2] if isinstance(g, torch.Tensor))


def keep_last_passes(session) -> None:
    """The run is over: turn the lean passes still parked (the loop's last ones) into full
    records, oldest first, each with its forward steps before it."""
    trailing = session.take_pending()
    for lean in session.lean_passes():
        record = lean.record
        session.restore_pending(lean.pending)
        session.flush()
        graph = session.graph
        ids = {}
        for rec in lean.scratch.records:  # the scratch ids become the kept graph's
            kept = graph.get(rec.fn) or graph.discover([rec.fn], pass_=record.index)[0]
            ids[rec.node.id] = kept.node.id
        _complete(session, record, lean.events, lean.grads_out, lean.scratch, lean.senders,
                  lean.grads_after, ids)
        record.roots = [graph.get(f).node.id for f in lean.root_fns if graph.get(f)]
        session.passes.append(record)
        session.kept_why[record.index] = "last"
        session.emit(pass_event(record))
        session.emit(backward_event(record))
        lean.release()
    session.restore_pending(trailing)


def _senders_to_watch(graph, reach, exact: bool) -> set[int]:
    """Nodes that need a post-hook: what they send cannot be read off the receiving end because
    the receiver sums several senders (or, when ``exact``, anything may differ)."""
    edges = [e for rec in reach for e in graph.inputs_of(rec.node.id)]
    if exact:
        return {e.dst for e in edges}
    consumers = Counter((e.src, e.output_nr) for e in edges)
    return {e.dst for e in edges if consumers[e.src, e.output_nr] > 1}


def _on_pre(events, rec, grad_outputs):
    before = None
    if rec.variable is not None and rec.variable.grad is not None:
        before = rec.variable.grad.clone()  # AccumulateGrad adds into .grad in place
    events.append(("node", rec, grad_outputs, before))


def _on_post(grads_out, rec, grad_inputs, grad_outputs):
    # The engine may add a later sender's gradient into this very tensor: copy it now.
    grads_out[rec.node.id] = [g.clone() if isinstance(g, torch.Tensor) else g
                              for g in grad_inputs]


def _backward_steps(events, grads_out, graph, senders, failed: bool,
                    summaries: _GradSummaries, grads_after: dict | None = None):
    ran = [event[1] for event in events if event[0] == "node"]
    received = {event[1].node.id: event[2] for event in events if event[0] == "node"}
    if failed and ran:
        ran.pop()  # the node that raised sent nothing
    for rec in ran:  # what an unwatched sender sent is what its receivers received
        if rec.node.id not in senders:
            grads_out[rec.node.id] = _sent(graph.inputs_of(rec.node.id), rec.arity, received)
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
            after = (rec.variable.grad if grads_after is None
                     else grads_after.get(rec.node.id))
            detail = {"grad_before": summaries.one(before), "grad_after": summaries.one(after)}
        steps.append(BackwardStep(order, rec.node.id, summaries.all(grad_outputs),
                                  summaries.all(grads_out.get(rec.node.id, ())), detail=detail))
    return steps


def _sent(inputs, arity: int, received) -> list:
    """Per edge slot, the gradient its (single-consumer) source received, or None when it got
    none: the source did not run."""
    sent: list = [None] * arity
    for edge in inputs:
        grads = received.get(edge.src)
        if grads is not None and edge.output_nr < len(grads):
            sent[edge.slot] = grads[edge.output_nr]
    return sent


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
