"""Which backward passes of a loop are kept in full: the plan, and the --passes spec that sets
it. Pure and torch-free, so the web server can check a page's spec before a run starts;
capture/passes.py records the passes it does not keep lean."""

from __future__ import annotations

import re

DEFAULT = "first10,sample,last10"
_SAMPLE_FROM = 16  # the sparse sample: passes 2**k - 1 past the first ones (15, 31, 63, ...)
_MAX_SPEC_CHARS = 200
_MAX_ASKED = 10_000  # single passes a spec may name (a server checks every page's spec)


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
    if not isinstance(spec, str) or len(spec) > _MAX_SPEC_CHARS:
        raise PassSpecError(f"--passes must be a string of at most {_MAX_SPEC_CHARS} characters")
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
            if end < start:
                raise PassSpecError(f"the range {item!r} in --passes is backwards")
            if len(asked) + end - start >= _MAX_ASKED:
                raise PassSpecError(f"--passes asks for more than {_MAX_ASKED:,} single passes: "
                                    "use everyN for a sample of a long loop")
            asked.update(range(start, end + 1))
    return {"head_passes": first, "tail_passes": last, "sample_passes": sample,
            "every_pass": every, "asked_passes": frozenset(asked)}
