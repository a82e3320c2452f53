"""The readable report of `gradtrace trace FILE`: the error first, with the line of its cause;
the graph summary (each pass, and the error of one that raised), every gradient, and every
diagnosis: warnings, then notes, then the expected states, one line a kind."""

from __future__ import annotations

import math
import re


def short(summary: dict | None, limit: int = 6) -> str:
    """A tensor summary in a few characters: the values when there are few, else the statistics."""
    if summary is None:
        return "None"
    if "error" in summary:
        return f"<{summary['error']}>"
    values = summary.get("values")
    shape = summary.get("shape", [])
    if values is not None and len(values) <= limit:
        text = ", ".join(_num(v) for v in values)
        return text if not shape else f"[{text}]"
    if summary.get("mean") is None:
        return f"{_shape(shape)} {summary.get('dtype')}"
    return (f"{_shape(shape)} mean {_num(summary['mean'])} min {_num(summary['min'])} "
            f"max {_num(summary['max'])} norm {_num(summary['norm'])}")


def _num(v) -> str:
    if isinstance(v, list):  # complex
        return f"{_num(v[0])}{'+' if not str(v[1]).startswith('-') else ''}{_num(v[1])}j"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v)) + "."
    return str(v)


def _shape(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "es" if noun.endswith("s") else "s")


def render(doc: dict, filename: str) -> str:
    lines = [f"gradtrace: {filename} ({doc.get('device', 'cpu')}; {setup_text(doc)})"]
    error = doc.get("error")
    if error:  # first: a run that raised, or stopped early, says so before anything else
        where = f"line {error['line']}" if error.get("line") else "no line"
        lines.append(f"error: {where}  {error['type']} [{error['code']}]: {error['message']}")
        if error.get("cause_line") and error["cause_line"] != error.get("line"):
            lines.append(f"      cause: line {error['cause_line']}")
    graph, passes, log = doc["graph"], doc["passes"], doc["pass_log"]
    lines.append(f"graph: {len(graph['nodes'])} nodes, {len(graph['edges'])} edges, "
                 f"{len(doc['steps'])} forward steps, {_plural(log['total'], 'backward pass')}")
    if log["skipped"]:
        why: dict[str, list[int]] = {}
        for index, reason in zip(log["kept"], log.get("why") or ["kept"] * len(log["kept"]),
                                 strict=False):
            why.setdefault(reason, []).append(index)
        kept = ", ".join(f"{_ranges(indices)} ({reason})" for reason, indices in why.items())
        lines.append(f"  kept the full record of passes {kept}; "
                     f"{log['skipped']} passes in between keep only their loss")
    if len({p["line"] for p in passes}) == 1:  # a loop's one backward: its losses are a curve
        lines.extend(_loss_summary(log))
    lines.extend(_pass_lines(passes, graph))
    lines.append("variables:")
    width = max((len(v["name"]) for v in doc["variables"]), default=4)
    for v in doc["variables"]:
        lines.append(f"  {v['name']:<{width}}  line {v['line']}  {v['dtype']}{_shape(v['shape'])}"
                     f"  value {short(v['value'])}  grad {short(v['grad'])}")
    told = [d for d in doc["diagnostics"] if not d.get("expected")]
    for severity, title in (("warning", "warnings"), ("info", "notes")):
        found = [d for d in told if d["severity"] == severity]
        if found:
            lines.append(f"{title}:")
        for group in _same_cause(found):
            d, names = group[0], ", ".join(d["variable"] for d in group)
            lines.append(f"  line {d['line']}  {names}: [{d['code']}] "
                         f"{_told(d['message'], group)}")
            lines.append(f"      fix: {_told(d['fix'], group)}")
    groups = expected_groups(doc["diagnostics"])
    if groups:
        lines.append("expected, nothing to fix:")
        lines.extend(f"  {text}" for text in groups)
    if doc["stdout"]:
        lines.append("stdout:")
        lines.extend("  " + line for line in doc["stdout"].rstrip("\n").splitlines()[:50])
    return "\n".join(map(_printable, lines)) + "\n"


def _pass_lines(passes: list[dict], graph: dict) -> list[str]:
    """Each kept pass and the engine's order, whole. A pass that ran what the one before it ran,
    on the same line, joins it ("passes 1-9, 15: the same"), so a loop is a few lines."""
    nodes = {n["id"]: n for n in graph["nodes"]}
    found: list[str] = []
    same: list[int] = []
    last = None
    for p in passes:
        order = [s["node"] for s in p["steps"] if s["kind"] == "node"]
        ran = [(nodes.get(i) or {}).get("name") for i in order]  # each iteration's own nodes
        if last is not None and not p.get("error") and (p["line"], ran) == last:
            same.append(p["index"])
            continue
        if same:
            found.append(f"  passes {_ranges(same)}: the same, line for line")
            same = []
        loss = f"  loss {_num(p['loss'])}" if p.get("loss") is not None else ""
        raised = f"  raised {p['error'].split(':', 1)[0]}" if p.get("error") else ""
        found.append(f"  pass {p['index']}: line {p['line']}  {p['span']}{loss}{raised}")
        found.append("    order: " + (_order_text(order, nodes) or "(none ran)"))
        last = (p["line"], ran)
    if same:
        found.append(f"  passes {_ranges(same)}: the same, line for line")
    return found


FOLDED_ORDER = 24  # an engine order longer than this folds each module's run of nodes


def _order_text(order: list[int], nodes: dict[int, dict]) -> str:
    """The engine's order, whole: past FOLDED_ORDER nodes, three or more in a row inside one
    top-level module call are one entry, `[netD#2: 9 nodes]`."""
    def module(node_id: int) -> str | None:
        path = (nodes.get(node_id) or {}).get("module")
        return path.split(".")[0] if path else None

    def name(node_id: int) -> str:
        n = nodes.get(node_id)
        if n is None:
            return "?"
        return f"{n['name']}({n['label']})" if n["kind"] == "leaf" else n["name"]

    if len(order) <= FOLDED_ORDER:
        return " -> ".join(name(i) for i in order)
    parts: list[str] = []
    k = 0
    while k < len(order):
        held = module(order[k])
        run = k
        while run < len(order) and held and (module(order[run]) == held or (
                (nodes.get(order[run]) or {}).get("kind") == "leaf"  # a shared weight's
                and module(order[run]) is None)):  # leaf is drawn at the top: it joins the run
            run += 1
        if run - k >= 3:
            parts.append(f"[{held}: {run - k} nodes]")
            k = run
        else:
            parts.append(name(order[k]))
            k += 1
    return " -> ".join(parts)


SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 48


def _loss_summary(log: dict) -> list[str]:
    """A loop's losses in two lines: the first, the last and the lowest (with their passes), and
    a sparkline of them all (log scale when they span more than two decades)."""
    losses = [(i, v) for i, v in enumerate(log.get("losses") or [])
              if isinstance(v, int | float) and not isinstance(v, bool)]
    if log["total"] < 3 or len(losses) < 3:
        return []
    lowest = min(losses, key=lambda item: item[1])
    found = [f"  loss over {log['total']:,} passes: first {_num(losses[0][1])} (pass "
             f"{losses[0][0]}), last {_num(losses[-1][1])} (pass {losses[-1][0]}), lowest "
             f"{_num(lowest[1])} (pass {lowest[0]})"]
    values = [v for _, v in losses]
    log_scale = min(values) > 0 and max(values) / min(values) > 100
    scaled = [math.log10(v) for v in values] if log_scale else values
    buckets = [scaled[len(scaled) * b // SPARK_WIDTH: max(len(scaled) * (b + 1) // SPARK_WIDTH,
                                                          len(scaled) * b // SPARK_WIDTH + 1)]
               for b in range(min(SPARK_WIDTH, len(scaled)))]
    means = [sum(b) / len(b) for b in buckets]
    lo, hi = min(means), max(means)
    spark = "".join(SPARK[0 if hi == lo else round((m - lo) / (hi - lo) * (len(SPARK) - 1))]
                    for m in means)
    found.append(f"    {spark}{'  (log scale)' if log_scale else ''}")
    return found


def setup_text(doc: dict) -> str:
    """How the run was set up, where its numbers may differ from another run of the code: its
    seed and its torch threads (a sum over more threads adds up in another order)."""
    seed = doc.get("seed")
    seeded = "unseeded" if seed is None else f"torch, random and numpy seeded with {seed}"
    threads = doc.get("threads", 1)
    return f"{seeded}; {threads} torch thread{'' if threads == 1 else 's'}"


def _same_cause(diagnostics: list[dict]) -> list[list[dict]]:
    """Diagnoses that say the same of several variables (a model's parameters cut off by one
    argmax), grouped in order: the page's problems.js groups them alike."""
    groups: dict[tuple, list[dict]] = {}
    for d in diagnostics:
        key = (d["severity"], d["code"], d["line"], _named(d["message"], d["variable"], "\0"),
               _named(d["fix"], d["variable"], "\0"))
        groups.setdefault(key, []).append(d)
    return list(groups.values())


def _told(text: str, group: list[dict]) -> str:
    """A group's first message, said of each of them."""
    return _named(text, group[0]["variable"], "each of them") if len(group) > 1 else text


def _named(text: str, name: str, instead: str) -> str:
    """``text`` with the variable ``name`` (a whole name: not the `a` inside `path`) said as
    ``instead``."""
    return re.sub(rf"(?<![\w.]){re.escape(name)}(?!\w)", lambda _: instead, text or "")


# What each code of an expected state says, once for all the variables that share it (the page's
# problems.js says the same)
EXPECTED = {
    "requires_grad_false": "need no gradient: inputs, targets and constants",
    "non_leaf": "intermediates: autograd fills .grad only for leaves (retain_grad() keeps theirs)",
    "grad_cleared": "cleared by zero_grad, as a training step does",
}
STOPPED = "as the run left them: it stopped before its end"


def expected_groups(diagnostics: list[dict]) -> list[str]:
    """One line for each kind of expected state: its variables, and what they share."""
    by_code: dict[str, list[dict]] = {}
    for d in diagnostics:
        if d.get("expected"):
            by_code.setdefault(d["code"], []).append(d)
    found = []
    for code, group in by_code.items():
        lines = {d["line"] for d in group}
        one_line = len(lines) == 1 and None not in lines
        names = ", ".join(d["variable"] if one_line or d["line"] is None
                          else f"{d['variable']} (line {d['line']})" for d in group)
        where = f" (line {group[0]['line']})" if one_line else ""
        found.append(f"{names}{where}: {EXPECTED.get(code, STOPPED)}")
    return found


# Characters a terminal acts on: C0 and C1 controls (escape sequences set the window's title,
# write the clipboard, clear the screen or rewrite a line) and the bidirectional overrides.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _printable(line: str) -> str:
    """A line of the report with each control character from the run written as repr would
    (``\\x1b``): names, messages and output are the snippet's, and the report goes to a
    terminal."""
    return _CONTROLS.sub(lambda m: repr(m.group())[1:-1], line)


def _ranges(indices: list[int]) -> str:
    parts, start, prev = [], None, None
    for i in indices:
        if start is None:
            start = prev = i
        elif i == prev + 1:
            prev = i
        else:
            parts.append(f"{start}-{prev}" if start != prev else str(start))
            start = prev = i
    if start is not None:
        parts.append(f"{start}-{prev}" if start != prev else str(start))
    return ", ".join(parts)
