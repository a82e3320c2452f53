"""Passes recorded lean: what a loop's passes that are not kept outright leave behind.

A training loop runs backward hundreds of times; a learner needs a few of those passes in full
and the loss of every one. Recording every pass and throwing most away costs the whole recorder
per op, so the decision comes first:

- a pass the plan keeps outright (gradtrace/passplan.py: the first ones, a sparse sample, the
  ones asked for) is recorded in full, as a run with one pass is;
- any other pass is recorded *lean*: its forward calls stay references in the session's pending
  list (no steps, no summaries, no events) and its backward gets the same hooks, on nodes found in
  a scratch graph. What it needs later is parked in a LeanPass. The last few LeanPasses wait in a
  ring; one that falls out of it, or is overtaken by a kept pass, is dropped whole: a pass that is
  not kept costs the interception and nothing per op to forget. Those still in the ring when the
  run ends are the loop's last passes, and are turned into full records then.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_HELD_ELEMENTS = 4_000_000  # tensor elements the ring may hold alive; older passes go first
LEAN_ELEMENTS = 64_000_000  # a lean pass holding more is not kept at all (the run's memory)
_SAFE_TO_DROP = 1000  # records or nodes dropped at once without minding the order (graph.py)


@dataclass
class LeanPass:
    """A pass recorded lean: enough to build its full record later, if it is kept. Its nodes
    are the autograd nodes themselves (``fn``); they get records only then."""

    pending: list  # its segment's recorded calls (Session.record's tuples), oldest first
    held: dict  # id(tensor) -> those of its calls that output it
    elements: int  # tensor elements it holds alive
    record: object = None  # its protocol.Pass, without steps and roots until it is kept
    root_fns: list = field(default_factory=list)
    watched: dict = field(default_factory=dict)  # id(fn) -> fn, for the post-hooked nodes
    events: list = field(default_factory=list)  # the hooks' engine events, by fn
    grads_out: dict = field(default_factory=dict)  # id(fn) -> (fn, what it sent)
    grads_after: dict = field(default_factory=dict)  # id(fn) -> (fn, a copy of its leaf's .grad)

    @property
    def steps(self) -> tuple[int, int]:
        """The first and last step index of its segment (empty: (0, -1))."""
        return (self.pending[0][0], self.pending[-1][0]) if self.pending else (0, -1)

    def release(self) -> None:
        """Forget it. Many records go newest first, consumers before their inputs (graph.py's
        NOTE [release order])."""
        if len(self.pending) > _SAFE_TO_DROP:
            while self.pending:
                self.pending.pop()
        self.pending.clear()
        for part in (self.held, self.watched, self.events, self.grads_out, self.grads_after):
            part.clear()


class Ring:
    """The latest LeanPasses, oldest first, bounded in count and in the elements they hold."""

    def __init__(self, size: int):
        self.size = size
        self.passes: list[LeanPass] = []
        self.dropped_steps = 0  # forward steps of the passes dropped so far

    def add(self, lean: LeanPass) -> None:
        """Park the newest pass; the oldest go while there are too many, or while they hold too
        much (the newest stays, however big: it is the last pass so far)."""
        self.passes.append(lean)
        held = sum(p.elements for p in self.passes)
        while len(self.passes) > self.size or len(self.passes) > 1 and held > _HELD_ELEMENTS:
            held -= self.passes[0].elements
            self.drop_oldest()

    def drop_oldest(self) -> None:
        lean = self.passes.pop(0)
        first, last = lean.steps
        self.dropped_steps += last - first + 1
        lean.release()

    def clear(self) -> None:
        while self.passes:
            self.drop_oldest()

    def take(self) -> list[LeanPass]:
        taken, self.passes = self.passes, []
        return taken
