"""The boxes the graph is drawn in: the nn.Module tree, and loop folds.

A node made inside an nn.Module belongs to that module's group, and to each module around it
(``net.0`` is inside ``net``). A Python loop that builds a chain (an RNN unrolled, ``y = f(y)``
again and again) makes the same ops from the same lines over and over, each iteration fed by
the one before: those nodes become a *fold*, ``loop:5`` for a loop whose first op is on line 5,
holding its iterations in *windows* of ``WINDOW`` (``loop:5.w3`` is iterations 30 to 39), so
that the user can open a fold one window at a time. A module's calls are groups of their own
(``netD``, ``netD#2``: capture numbers them); calls of one module that chain, each fed by the one
before (a cell at every time step, a list's layers called in a loop), fold the same way, into
``loop:cell`` with windows of calls.

Groups beside each other (one parent) of the same class with the same inside (ops, parameter
shapes, and groups inside, wired the same way) are *identical*: the page marks each with how many
there are, ``×6``.
``opening_levels`` gives the levels a graph may open at, each showing at most about 40 boxes.

Pure: no torch, no Flask. Deterministic: everything goes in node order.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

FOLD_MIN = 3  # iterations a loop needs before it folds
MAX_PERIOD = 256  # ops in one iteration, at most, for a loop to fold
WINDOW = 10  # iterations in one window of a fold
OPENING_BOXES = 40  # boxes a graph opens with, at most (where its top level allows)
MAX_DEPTH = 32  # levels of modules shown; a node nested deeper is drawn in its ancestor there
OPENING_MIN = 3  # ... and at least, where it has that many inside

ROOT = ""
_CALL = re.compile(r"#\d+")
_BASE = re.compile(r"#\d+|\[[^\]]*\]")  # a call's number, an item's index or key


class LayoutStopped(Exception):
    """A layout's work was stopped part way: nobody waits for it any more (its client left)."""


def never() -> bool:
    return False


def module_of_call(path: str) -> str:
    """The module path of a module call's path: ``netD#2.main.0`` (in the second call of
    ``netD``) is module ``netD.main.0``."""
    return _CALL.sub("", path) if "#" in path else path


class Groups:
    """The group tree of a graph's nodes (``nodes`` in id order, ``inputs[i]``: the indices of
    node i's inputs). ``chains[i]``: the groups node i is in, outermost first."""

    def __init__(self, nodes: list, inputs: list[list[int]], modules: dict[str, str] | None = None):
        self.classes = dict(modules or {})  # module path -> class name
        # What a node is, for telling groups apart: its autograd name, and a leaf's shape (two
        # Conv2d of other widths are not identical).
        self.names = [f"{n.name or ''}{getattr(n, 'shape', None) or ''}" for n in nodes]
        self.inputs = inputs
        self.labels: dict[str, str] = {}  # a fold's or window's text, in place of a class
        # Groups that cannot be one block (layout.py finds them): their nodes are fed through
        # the ops around them and feed them too
        self.split: set[str] = set()
        self.chains: list[list[str]] = _module_chains(nodes)
        self._fold_calls(inputs)
        self._fold_loops(nodes, inputs)
        self.children: dict[str, list[str]] = {ROOT: []}
        self.members: dict[str, list[int]] = {ROOT: []}  # every node inside, nested too
        self.parent: dict[str, str] = {}
        self._depth: dict[str, int] = {ROOT: 0}
        for i, chain in enumerate(self.chains):
            self.members[ROOT].append(i)
            parent = ROOT
            for depth, group in enumerate(chain, 1):
                if group not in self.members:
                    self.members[group] = []
                    self.children[group] = []
                    self.children[parent].append(group)  # in order of first node: stable
                    self.parent[group] = parent
                    self._depth[group] = depth
                self.members[group].append(i)
                parent = group
        self.own = dict.fromkeys(self.members, 0)  # nodes directly in a group, not in a child
        for chain in self.chains:
            self.own[chain[-1] if chain else ROOT] += 1

    def boxes(self, collapsed: set[str]) -> set[str]:
        """The groups that show as boxes when ``collapsed`` are asked for: a group that cuts
        across the data flow (``split``, found by the layout) shows its children instead."""
        if not self.split & collapsed:
            return collapsed
        out, stack = set(), list(collapsed)
        while stack:
            group = stack.pop()
            if group in self.split:
                stack.extend(self.children.get(group, ()))
            else:
                out.add(group)
        return out

    def depth(self, group: str) -> int:
        """How many groups are around ``group``'s nodes, itself included (ROOT: 0)."""
        return self._depth[group]

    def inside_out(self) -> list[str]:
        """Every group, each after all the groups inside it."""
        order, stack = [], [ROOT]
        while stack:
            group = stack.pop()
            order.append(group)
            stack.extend(self.children[group])
        return order[::-1]

    def is_fold(self, group: str) -> bool:
        return group.startswith("loop:")

    def _fold_calls(self, inputs: list[list[int]]) -> None:
        """Fold the calls of a module that chain, each fed by the one before (a cell called at
        every time step: ``cell``, ``cell#2``, ... ``cell#20``), into ``loop:PATH``, with
        windows of WINDOW calls, as a module-free loop folds. The ops between two calls
        (``h = h + torch.tanh(layer(h))``) go with the call before them."""
        innermost = {chain[-1] for chain in self.chains if chain}
        if not any("#" in path or "[" in path for path in innermost):
            return  # no module was called twice, and none lives in a list: nothing to fold
        sharing: dict[int, tuple[list[str], list[int]]] = {}  # most nodes share a few chains
        for i, chain in enumerate(self.chains):
            found = sharing.get(id(chain))
            if found is None:
                sharing[id(chain)] = (chain, [i])
            else:
                found[1].append(i)
        calls: dict[tuple, dict[str, list[int]]] = {}  # (caller, module) -> call -> its nodes
        for chain, nodes in sharing.values():
            for depth, path in enumerate(chain):
                caller = chain[depth - 1] if depth else ROOT
                module = _BASE.sub("", path.rsplit(".", 1)[-1])  # (layers[3]: layers)
                calls.setdefault((caller, module), {}).setdefault(path, []).extend(nodes)
        for (caller, module), members in calls.items():
            if len(members) < FOLD_MIN:
                continue
            first = next(iter(members))
            depth = self.chains[members[first][0]].index(first)
            free = [len(chain) == depth and (not depth or chain[depth - 1] == caller)
                    for chain in self.chains]  # nodes of the caller's own
            between = _calls_chain(list(members.values()), inputs, free)
            if between is None:
                continue
            fold = f"loop:{first}"
            count = len(members)
            self.labels[fold] = f"{module} ×{count}"
            outer = self.chains[members[first][0]][:depth]
            for k, nodes in enumerate(members.values()):
                around = self._windowed(fold, k, count, "calls {}–{}", 1)
                for i in nodes:
                    chain = self.chains[i]
                    self.chains[i] = chain[:depth] + around + chain[depth:]
                for i in between[k]:
                    self.chains[i] = outer + around

    def _fold_loops(self, nodes: list, inputs: list[list[int]]) -> None:
        """Put the nodes of each chain-building loop (outside modules) in a fold. A run of ops
        that repeats (the same lines and autograd names, FOLD_MIN times or more) folds when,
        cut into iterations at some offset, each iteration is one piece of graph fed by the one
        before; a run that is not a chain at any offset is passed over whole."""
        free = [i for i, n in enumerate(nodes)
                if not self.chains[i] and n.kind != "leaf" and n.line is not None]
        tokens = [(nodes[i].line, nodes[i].name) for i in free]
        after: dict = {}  # token -> the position of its next occurrence
        following = [0] * len(tokens)
        for k in range(len(tokens) - 1, -1, -1):
            following[k] = after.get(tokens[k], -1)
            after[tokens[k]] = k
        at, taken = 0, set()
        while at < len(tokens):
            period = following[at] - at
            count = _repeats(tokens, at, period) if 0 < period <= MAX_PERIOD else 1
            if count < FOLD_MIN:
                at += 1
                continue
            start = next((at + shift for shift in range(period)
                          if _chained(free, at + shift, period,
                                      _repeats(tokens, at + shift, period), inputs)), None)
            if start is None:  # repeats, but is no chain: not a loop to fold
                at += count * period
                continue
            count = _repeats(tokens, start, period)
            self._fold(tokens[start][0], [free[start + k * period:start + (k + 1) * period]
                                          for k in range(count)], taken)
            at = start + count * period

    def _fold(self, line: int, iterations: list[list[int]], taken: set) -> None:
        fold = f"loop:{line}"
        n = 1
        while fold in taken:
            n += 1
            fold = f"loop:{line}~{n}"
        taken.add(fold)
        count = len(iterations)
        self.labels[fold] = f"loop at line {line} ×{count}"
        for k, members in enumerate(iterations):
            chain = self._windowed(fold, k, count, "iterations {}–{}", 0)
            for i in members:
                self.chains[i] = chain

    def _windowed(self, fold: str, k: int, count: int, text: str, base: int) -> list[str]:
        """The groups around the k-th of ``count`` iterations (or calls) of ``fold``: the fold,
        and past WINDOW of them, its window, labelled ``text`` with the window's first and last,
        counted from ``base``."""
        if count <= WINDOW:
            return [fold]
        first = k // WINDOW * WINDOW
        window = f"{fold}.w{k // WINDOW}"
        self.labels[window] = text.format(first + base, min(first + WINDOW, count) - 1 + base)
        return [fold, window]

    def identical(self, stop: Callable[[], bool] = never) -> dict[str, int]:
        """Group -> how many groups beside it (with its parent) have its class and its inside,
        where that is more than one. Only siblings count: a model's final LayerNorm, alike
        inside to each block's, marked "×5" where it stands alone, would read as five of it.
        Raises LayoutStopped, at the next group, once ``stop()`` is true."""
        signature: dict[str, str] = {}
        for group in self.inside_out():
            if stop():
                raise LayoutStopped
            if group == ROOT:
                continue
            depth = self.depth(group)
            item = self._item_at(depth)
            items: dict = {}
            for i in self.members[group]:
                items.setdefault(item(i), len(items))
            parts = [self.classes.get(group, "")]  # a window's label would tell windows apart
            parts += [signature[it] if type(it) is str else self.names[it] for it in items]
            for i in self.members[group]:
                b = items[item(i)]
                for p in self.inputs[i]:
                    a = items.get(item(p))
                    if a is not None and a != b:
                        parts.append(f"{a}>{b}")
            signature[group] = hashlib.blake2b("|".join(parts).encode(),
                                               digest_size=12).hexdigest()
        counts: dict[tuple, int] = {}
        for group, sig in signature.items():
            key = (self.parent.get(group), sig)
            counts[key] = counts.get(key, 0) + 1
        return {g: n for g, s in signature.items()
                if (n := counts[(self.parent.get(g), s)]) > 1}

    def _item_at(self, depth: int):
        """Node -> what it is at ``depth``: the group there around it, or itself."""
        chains = self.chains
        return lambda i: chains[i][depth] if len(chains[i]) > depth else i


def _module_chains(nodes: list) -> list[list[str]]:
    """Each node's module paths from the outermost in: ``net.0`` gives ``["net", "net.0"]``. A
    node nested deeper than MAX_DEPTH is drawn in its ancestor at that depth: real models nest a
    handful of levels, and every level costs each node's share of the layout (a forged graph
    nested 500 deep took minutes)."""
    chains: dict = {None: [], "": []}  # path -> its chain: most nodes share a few paths
    out = []
    for n in nodes:
        path = getattr(n, "module", None)
        chain = chains.get(path)
        if chain is None:
            parts = path.split(".")[:MAX_DEPTH]
            chain = chains[path] = [".".join(parts[:k]) for k in range(1, len(parts) + 1)]
        out.append(chain)
    return out


def _calls_chain(calls: list[list[int]], inputs: list[list[int]],
                 free: list[bool], hops: int = 4) -> list[set[int]] | None:
    """Whether each call takes an input from the call before it, directly or through a few of
    the caller's own nodes (``h = h + torch.tanh(layer(h))``): per call, those nodes after it on
    the way to the next; None when the calls do not chain."""
    between: list[set[int]] = [set() for _ in calls]
    for k in range(1, len(calls)):
        found = _fed_by(calls[k], set(calls[k - 1]), free, inputs, hops)
        if found is None:
            return None
        between[k - 1] = found
    return between


def _fed_by(members: list[int], before: set[int], free: list[bool], inputs: list[list[int]],
            hops: int) -> set[int] | None:
    """The caller's own nodes on the paths from ``before`` into ``members`` (at most ``hops``
    long), or None when no such path feeds them."""
    direct = {p for i in members for p in inputs[i]}
    reached = set()
    frontier = {p for p in direct if free[p]}
    for _ in range(hops):
        reached |= frontier
        frontier = {p for i in frontier for p in inputs[i] if free[p]} - reached
    on_path = {i for i in reached if any(p in before for p in inputs[i])}
    for _ in range(hops):
        on_path |= {i for i in reached if any(p in on_path for p in inputs[i])}
    if direct & before or on_path & direct:
        return on_path  # (found walking back from the call: each leads into it)
    return None


def _repeats(tokens: list, at: int, period: int) -> int:
    """How many times ``tokens[at:at + period]`` comes in a row from ``at``."""
    body = tokens[at:at + period]
    count = 1
    while tokens[at + count * period:at + (count + 1) * period] == body:
        count += 1
    return count


def _chained(free: list[int], at: int, period: int, count: int, inputs: list[list[int]]) -> bool:
    """Whether the ``count`` iterations of ``period`` nodes from ``free[at]`` are each one piece
    of graph, each taking an input from the one before it (stops at the first that is not)."""
    if count < FOLD_MIN:
        return False
    before: set = set()
    for k in range(count):
        members = free[at + k * period:at + (k + 1) * period]
        if not _connected(members, inputs):
            return False
        if before and not any(p in before for i in members for p in inputs[i]):
            return False
        before = set(members)
    return True


def _connected(members: list[int], inputs: list[list[int]]) -> bool:
    """Whether ``members`` are joined by edges among themselves (direction aside). A walk over
    the few nodes of one iteration, without a call per node: it runs for every iteration of
    every loop (8,000 of them in a 64k-node RNN)."""
    near: dict[int, list[int]] = {i: [] for i in members}
    for i in members:
        for p in inputs[i]:
            if p in near:
                near[i].append(p)
                near[p].append(i)
    seen = {members[0]}
    stack = [members[0]]
    while stack:
        for j in near[stack.pop()]:
            if j not in seen:
                seen.add(j)
                stack.append(j)
    return len(seen) == len(near)


def opening(groups: Groups, limit: int = OPENING_BOXES, top: str = ROOT) -> set[str]:
    """The groups a graph opens with collapsed: the deepest of ``opening_levels``."""
    return opening_levels(groups, limit, top)[-1][0]


def opening_levels(groups: Groups, limit: int = OPENING_BOXES,
                   top: str = ROOT) -> list[tuple[set[str], int]]:
    """The levels a graph (or the group ``top``) may open at, from the top down, each as (the
    collapsed groups, how many boxes show): first its own groups collapsed, then, one level at
    a time, the collapsed groups shown all open, while the boxes shown stay at most ``limit``.
    A whole level at once, so that identical blocks look alike."""
    if top not in groups.children:
        return [(set(), 0)]
    frontier = list(groups.children[top])
    shown = groups.own[top] + len(frontier)
    levels = [(set(frontier), shown)]
    while frontier:
        more = sum(groups.own[g] + len(groups.children[g]) - 1 for g in frontier)
        if shown + more > limit:
            break
        shown += more
        frontier = [c for g in frontier for c in groups.children[g]]
        levels.append((set(frontier), shown))
    return levels


def first_readable(levels: list[tuple[set[str], int]]) -> int:
    """The first of ``levels`` that shows at least OPENING_MIN boxes, not one of them a single
    module's (or the deepest): a graph never opens as one box when it has more inside, and a
    model that is one root module shows its children, however few ops come after it (the
    loss)."""
    return next((k for k, (shut, boxes) in enumerate(levels)
                 if boxes >= OPENING_MIN and len(shut) != 1), len(levels) - 1)
