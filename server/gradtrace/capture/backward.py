"""Backward recording: one Pass per ``.backward()``, ``torch.autograd.backward`` or
``torch.autograd.grad``, with the nodes in the exact order the engine ran them.

Before the engine starts, the whole graph reachable from the roots is walked (iteratively), its
saved tensors are snapshotted, and a pre-hook is put on every node: it gives the engine's order and
the gradients each node receives. What a node sends along an edge is what the node at the other
end receives, unless that node has several consumers (the engine sums what they send) or something
may change the gradient on the way (a user's tensor hook) or the far end may not run
(``autograd.grad``, ``inputs=``): only then does the sender get a post-hook too. The hooks keep
references to small gradients, summarised in bulk after the pass, and summarise a large one at
once (holding every large gradient to the end of a pass cost more, in fresh memory, than the
summaries). All handles are removed in ``finally``, whether the engine succeeded or raised.
"""

from __future__ import annotations

import contextlib
import inspect
from collections import Counter
from functools import partial

import torch

from gradtrace.capture.batch import BATCH_LIMIT
from gradtrace.capture.doctor import short_message
from gradtrace.capture.values import fmt, summarize
from gradtrace.trace.protocol import PREVIEW_LIMIT, BackwardStep, Pass, backward_event, pass_event

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
            return g if isinstance(g, dict) else None  # (a dict: summarised in the hook)
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
                      retain_graph=retain_graph, create_graph=create_graph)
        root_fns = [t.grad_fn for t in roots if isinstance(t, torch.Tensor)]
        root_fns = [f for f in root_fns if f is not None]
        exact = (kind == "grad" or has_inputs or session.user_grad_hooks
                 or session.config.watch_every_edge)
        run = partial(self._engine, original, args, kwargs, roots, record)
        try:
            if session.keeping is not None:
                return self._full(run, record, root_fns, exact, create_graph)
            if lean is not None:
                return self._lean(run, lean, record, root_fns, exact)
            return run([], None, None)  # given up (too big to keep): its loss is all it keeps
        finally:
            session.end_pass(record, lean)

    def _engine(self, original, args, kwargs, roots, record, reach, on_pre, on_post):
        """Run the engine with a pre-hook on every node of ``reach``, triples of (fn, the
        pre-hook's context, the post-hook's context or None: no post-hook)."""
        session = self.session
        handles = []
        try:
            try:
                for fn, pre, post in reach:
                    handles.append(fn.register_prehook(partial(on_pre, pre)))
                    if post is not None:
                        handles.append(fn.register_hook(partial(on_post, post)))
                return original(*args, **kwargs)
            finally:
                for handle in handles:
                    handle.remove()
        except BaseException as exc:
            record.error = short_message(f"{type(exc).__name__}: {exc}")
            session.failed_roots = [t for t in roots if isinstance(t, torch.Tensor)]  # doctor
            raise

    def _full(self, run, record, root_fns, exact, create_graph):
        session = self.session
        graph = session.graph
        graph.discover(root_fns, pass_=record.index)  # nodes no forward step made
        reach = graph.reachable(root_fns)
        for rec in reach:
            graph.snapshot_saved(rec)
        record.roots = [graph.get(f).node.id for f in root_fns if graph.get(f)]
        session.announce_pass(record)
        events: list = []
        grads_out: dict[int, tuple] = {}
        senders = _senders_to_watch(graph, reach, exact)
        session.pass_events = events
        result = None
        try:
            result = run([(rec.fn, (events, rec), (grads_out, rec) if rec.node.id in senders
                           else None) for rec in reach], _on_pre, _on_post)
        finally:
            session.pass_events = None
            _complete(session, record, events, grads_out, graph, senders)
            if create_graph and record.error is None:
                created = _discover_created(graph, reach, result, record.index)
                for rec in created:
                    node = rec.node
                    node.op, node.line, node.span = record.kind, record.line, record.span
                record.created_nodes = [rec.node.id for rec in created]
            session.emit(backward_event(record), urgent=True)
        return result

    def _lean(self, run, lean, record, root_fns, exact):
        """A pass that may not be kept: the same hooks, on the nodes a plain walk finds (no
        records made); what they saw is parked with the pass (_park), and turned into steps
        only if the pass turns out to be one of the last (keep_last_passes)."""
        session = self.session
        reach, watched = _lean_walk(root_fns, exact)
        lean.record, lean.root_fns, lean.watched = record, root_fns, watched
        session.pass_events = lean.events
        try:
            return run([(fn, (lean.events, fn, getattr(fn, "variable", None)),
                         (lean.grads_out, fn) if id(fn) in watched else None)
                        for fn in reach], _on_pre_lean, _on_post_lean)
        finally:
            session.pass_events = None
            _park(session, lean)


def _complete(session, record, events, grads_out, graph, senders, grads_after=None) -> None:
    """Fill a kept pass's steps from what the hooks saw, and their summaries."""
    record.steps = _backward_steps(events, grads_out, graph, senders, record.error is not None,
                                   _GradSummaries(session.summaries), grads_after)
    session.summaries.flush()  # before anything (the next pass) changes the gradients
    session.executed_nodes.update(s.node for s in record.steps if s.node is not None)


def _lean_walk(root_fns, exact: bool) -> tuple[list, dict]:
    """Every node reachable from the roots, and those that need a post-hook by id (as
    _senders_to_watch decides for a kept graph), without registering any."""
    seen: set[int] = set()
    reach = []
    senders_into: dict[tuple[int, int], list] = {}  # (id of a node, output) -> who sends to it
    stack = list(root_fns)
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        reach.append(fn)
        for nxt, output_nr in fn.next_functions:
            if nxt is not None:
                senders_into.setdefault((id(nxt), output_nr), []).append(fn)
                stack.append(nxt)
    watched = {id(fn): fn for senders in senders_into.values() if exact or len(senders) > 1
               for fn in senders}
    return reach, watched


def _park(session, lean) -> None:
    """What a lean pass needs to be kept later. The gradients are held as they are (the engine
    makes new ones), except each leaf's .grad, which the next pass may add into: copied."""
    kept_graph, executed, elements = session.graph, session.executed_nodes, 0
    for kind, fn, grads, _ in lean.events:
        if kind != "node":
            continue
        rec = kept_graph.get(fn)
        if rec is not None:  # a node of the kept graph (a parameter's AccumulateGrad, say)
            executed.add(rec.node.id)
            variable = rec.variable
        else:
            variable = getattr(fn, "variable", None)
        if variable is not None and variable.grad is not None:
            copy = variable.grad.detach().clone()
            lean.grads_after[id(fn)] = (fn, copy)
            elements += copy.numel()
        for g in grads or ():  # (None: the leaf's .grad, copied above)
            if g is not None:
                elements += g.numel()
    lean.elements += elements


def keep_last_passes(session) -> None:
    """The run is over: turn the lean passes still parked (the loop's last ones) into full
    records, oldest first, each with its forward steps before it and its nodes in the graph."""
    trailing = session.take_pending()
    graph = session.graph
    for lean in session.lean_passes():
        record = lean.record
        session.restore_pending(lean.pending)
        session.flush()
        graph.discover(lean.root_fns, pass_=record.index)  # nodes no forward step made
        rec = graph.get
        events = [("node", rec(e[1]), e[2], e[3]) if e[0] == "node" else e for e in lean.events]
        grads_out = {rec(fn).node.id: grads for fn, grads in lean.grads_out.values()}
        after = {rec(fn).node.id: grad for fn, grad in lean.grads_after.values()}
        senders = {rec(fn).node.id for fn in lean.watched.values()}
        _complete(session, record, events, grads_out, graph, senders, after)
        record.roots = [rec(f).node.id for f in lean.root_fns if rec(f)]
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


def _on_pre(context, grad_outputs):
    events, rec = context
    variable = rec.variable
    before = None
    if variable is not None:
        if _becomes_grad(variable):
            grad_outputs = None
        elif variable.grad is not None:
            before = _kept(variable.grad, copy=True)  # AccumulateGrad adds into .grad in place
    else:
        grad_outputs = [_kept(g) for g in grad_outputs]
    events.append(("node", rec, grad_outputs, before))


def _kept(g, copy: bool = False):
    """What a kept pass keeps of a gradient: a large one summarised now, while it is in the
    cache, rather than held to the end of the pass (as its summary would be then anyway);
    a small one as it is, or a copy, for the batch after the pass."""
    if not isinstance(g, torch.Tensor):
        return g
    if g.numel() > BATCH_LIMIT:
        return summarize(g, PREVIEW_LIMIT)
    return g.clone() if copy else g


def _becomes_grad(variable) -> bool:
    """Whether what a leaf's AccumulateGrad receives is exactly its .grad after the pass: its
    .grad is None and no hook may change it after. Then the hook does not hold the gradient
    (the event's gradients are None, read back from .grad after the pass), so AccumulateGrad can
    take the tensor as .grad instead of copying it: a copy of every weight's gradient doubled
    the engine's time on a wide MLP."""
    return variable.grad is None and getattr(variable, "_post_accumulate_grad_hooks", None) is None


def _on_post(context, grad_inputs, grad_outputs):
    grads_out, rec = context
    # The engine may add a later sender's gradient into this very tensor: a copy, or a summary.
    grads_out[rec.node.id] = [_kept(g, copy=True) for g in grad_inputs]


def _on_pre_lean(context, grad_outputs):
    events, fn, variable = context
    before = None
    if variable is not None:
        if _becomes_grad(variable):
            grad_outputs = None  # as in _on_pre
        elif variable.grad is not None:
            before = variable.grad.clone()
    events.append(("node", fn, grad_outputs, before))


def _on_post_lean(context, grad_inputs, grad_outputs):
    grads_out, fn = context
    grads_out[id(fn)] = (fn, _copies(grad_inputs))


def _copies(grads) -> list:
    # The engine may add a later sender's gradient into this very tensor: copy it now.
    return [g.clone() if isinstance(g, torch.Tensor) else g for g in grads]


def _backward_steps(events, grads_out, graph, senders, failed: bool,
                    summaries: _GradSummaries, grads_after: dict | None = None):
    events = [_with_leaf_grad(event, grads_after) if event[0] == "node" and event[2] is None
              else event for event in events]
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


def _with_leaf_grad(event, grads_after: dict | None):
    """A leaf's event whose gradient the hook did not hold (_becomes_grad): it is the .grad the
    pass left."""
    kind, rec, _, before = event
    grad = rec.variable.grad if grads_after is None else grads_after.get(rec.node.id)
    return kind, rec, (grad,), before


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
