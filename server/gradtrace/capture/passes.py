"""Which backward passes of a loop are kept in full, decided before each pass starts.

A training loop runs backward hundreds of times; a learner needs a few of those passes in full
and the loss of every one. Recording every pass and throwing most away costs the whole recorder
per op, so the decision comes first:

- a pass the plan keeps outright (the first ones, a sparse sample, the ones asked for) is
  recorded in full, as a run with one pass is;
- any other pass is recorded *lean*: its forward calls stay references in the session's pending
  list (no steps, no summaries, no events) and its backward gets the same hooks, on nodes found in
  a scratch graph. What it needs later is parked in a LeanPass. The last few LeanPasses wait in a
  ring; one that falls out of it, or is overtaken by a kept pass, is dropped whole: a pass that is
  not kept costs the interception and nothing per op to forget. Those still in the ring when the
  run ends are the loop's last passes, and are turned into full records then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Passes of the default plan's sparse sample: 2**k - 1 past the first ones (15, 31, 63, ...).
_SAMPLE_FROM = 16
_HELD_ELEMENTS = 4_000_000  # tensor elements the ring may hold alive; older passes go first


class PassSpecError(ValueError):
    """A --passes specification that cannot be read."""


def keep_reason(config, index: int) -> str | None:
    """Why pass ``index`` is kept outright under a CaptureConfig, or None: it is recorded lean
    (and may still end up among the last ones)."""
    if index < config.head_passes:
        return "first"
    if index in config.asked_passes:
        return "asked"
    if config.every_pass and index % config.every_pass == 0:
        return "every"
    if config.sample_passes and index + 1 >= _SAMPLE_FROM and (index + 1) & index == 0:
        return "sample"
    return None


def parse_passes(spec: str) -> dict:
    """The CaptureConfig fields a --passes specification sets: ``first10,last10,sample`` (the
    default), ``0-4,100,last5``, ``every50``, ``all``."""
    first = last = every = 0
    sample, asked = False, set()
    for item in (part.strip() for part in spec.split(",")):
        match = re.fullmatch(r"(first|last|every)(\d+)|(\d+)(?:-(\d+))?|sample|all", item)
        if match is None:
            raise PassSpecError(
                f"cannot read {item!r} in --passes {spec!r}: use items such as first10, last10, "
                "sample, every50, 7, 100-110 or all, separated by commas")
        word, count, lo, hi = match.groups()
        if item == "sample":
            sample = True
        elif item == "all":
            every = 1
        elif word == "first":
            first = max(first, int(count))
        elif word == "last":
            last = max(last, int(count))
        elif word == "every":
            every = int(count) or every
        else:
            start, end = int(lo), int(hi if hi is not None else lo)
            if end < start or end - start > 100_000:
                raise PassSpecError(f"the range {item!r} in --passes is backwards or too long")
            asked.update(range(start, end + 1))
    return {"head_passes": first, "tail_passes": last, "sample_passes": sample,
            "every_pass": every, "asked_passes": frozenset(asked)}


@dataclass
class LeanPass:
    """A pass recorded lean: enough to build its full record later, if it is kept."""

    pending: list  # its segment's recorded calls (Session.record's tuples), oldest first
    held: dict  # id(tensor) -> those of its calls that output it
    elements: int  # tensor elements it holds alive
    record: object = None  # its protocol.Pass, without steps and roots until it is kept
    scratch: object = None  # the Graph its backward's new nodes were found in
    root_fns: list = field(default_factory=list)
    events: list = field(default_factory=list)  # the hooks' engine events
    grads_out: dict = field(default_factory=dict)
    senders: set = field(default_factory=set)
    grads_after: dict = field(default_factory=dict)  # leaf node id -> a copy of its .grad

    @property
    def steps(self) -> tuple[int, int]:
        """The first and last step index of its segment (empty: (0, -1))."""
        return (self.pending[0][0], self.pending[-1][0]) if self.pending else (0, -1)

    def release(self) -> None:
        """Forget it: the recorded calls newest first (consumers before their inputs), then the
        scratch graph in its own safe order."""
        while self.pending:
            self.pending.pop()
        self.events.clear()
        self.grads_out.clear()
        self.grads_after.clear()
        self.held.clear()
        if self.scratch is not None:
            self.scratch.release()


class Ring:
    """The latest LeanPasses, oldest first, bounded in count and in the elements they hold."""

    def __init__(self, size: int):
        self.size = size
        self.passes: list[LeanPass] = []
        self.dropped_steps = 0  # forward steps of the passes dropped so far

    def add(self, lean: LeanPass) -> None:
        self.passes.append(lean)
        held = sum(p.elements for p in self.passes)
        while self.passes and (len(self.passes) > self.size or held > _HELD_ELEMENTS):
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
