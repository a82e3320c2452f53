"""Names as the user wrote them: top-level variables, module parameters as ``net.0.weight``, and
source text for intermediates nobody named."""

from __future__ import annotations

import ast

import torch

from gradtrace.capture.values import FULL_VALUES_LIMIT, dtype_name
from gradtrace.drawing.grouping import module_of_call
from gradtrace.trace.protocol import Variable


def binding_lines(tree: ast.Module) -> dict[str, list[int]]:
    """Each name's top-level binding lines (not inside def/class), in order. Which of them ran
    is for the run to say (Bindings.line). An augmented assignment (``a -= lr * a.grad``) is no
    binding: on a tensor it updates the same tensor in place, which a line before bound."""
    lines: dict[str, list[int]] = {}
    stack = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            lines.setdefault(node.name, []).append(node.lineno)
            continue
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            stack.append(node.value)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            lines.setdefault(node.id, []).append(node.lineno)
        elif isinstance(node, ast.alias):
            name = (node.asname or node.name).split(".")[0]
            lines.setdefault(name, []).append(getattr(node, "lineno", 0) or 0)
        stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return {name: sorted(found) for name, found in lines.items()}


def bound_at(lines: dict[str, list[int]], name: str, made_on: int | None) -> int | None:
    """The line that bound ``name``: the one of its binding lines where its tensor was made,
    when the recording says so (a later binding may never have run), else the last."""
    found = lines.get(name)
    if not found:
        return None
    return made_on if made_on in found else found[-1]


def named_tensors(namespace: dict):
    """(name, tensor, binding name) for each top-level tensor and each top-level module's
    parameters (a module in a top-level list, tuple or dict too: ``layers[3].weight``), in the
    order the names were bound."""
    for name, value in list(namespace.items()):
        if name.startswith("__"):
            continue
        if isinstance(value, torch.Tensor):
            yield name, value, name
            continue
        for path, module in _modules_in(name, value):
            for param_name, param in module.named_parameters():
                yield f"{path}.{param_name}", param, name


_MAX_ITEMS = 1000  # modules looked at in one top-level list, tuple or dict


def top_level_modules(namespace: dict):
    """(name, module) for each module bound to a top-level name, or held in a list, tuple or
    dict bound to one (``layers[3]``, ``heads['a']``), in the order the names were bound."""
    for name, value in list(namespace.items()):
        if not name.startswith("__"):
            yield from _modules_in(name, value)


def _modules_in(name: str, value):
    if isinstance(value, torch.nn.Module):
        yield name, value
    elif isinstance(value, list | tuple):
        for k, item in enumerate(value[:_MAX_ITEMS]):
            if isinstance(item, torch.nn.Module):
                yield f"{name}[{k}]", item
    elif isinstance(value, dict):
        for key, item in list(value.items())[:_MAX_ITEMS]:
            if isinstance(item, torch.nn.Module):
                yield f"{name}[{key!r}]", item


def place_parameters(namespace: dict, graph) -> None:
    """Each module parameter's leaf node belongs to its module (``net.0.weight`` to ``net.0``),
    not to where it was first used: the layout keeps a module's nodes together."""
    leaf_nodes = {id(rec.variable): rec for rec in graph.records if rec.variable is not None}
    homes = _Homes(graph)
    for name, t, bound in named_tensors(namespace):
        rec = leaf_nodes.get(id(t))
        if name != bound and rec is not None and rec.variable is t:
            rec.node.module = homes.of(rec.node.id, name.rsplit(".", 1)[0])


class _Homes:
    """Where a parameter's leaf belongs among the calls of its module: in the call that used
    it, or, used by several calls (``netD`` called three times), around them all (outside
    ``netD``: the same weights feed three boxes)."""

    def __init__(self, graph):
        self.graph = graph
        self._consumers: dict[int, list[int]] | None = None

    def of(self, node_id: int, module: str) -> str | None:
        if self._consumers is None:
            self._consumers = {}
            for e in self.graph.edges:
                self._consumers.setdefault(e.src, []).append(e.dst)
        depth = module.count(".") + 1
        calls = set()
        for dst in self._consumers.get(node_id, ()):
            used_in = self.graph.records[dst].node.module
            parts = used_in.split(".")[:depth] if used_in else []
            if len(parts) < depth or module_of_call(".".join(parts)) != module:
                return module  # used outside its module: where it is defined
            calls.add(tuple(parts))
        if len(calls) <= 1:
            return ".".join(next(iter(calls))) if calls else module
        common = []
        for level in zip(*calls, strict=False):
            if len(set(level)) > 1:
                break
            common.append(level[0])
        return ".".join(common) or None


def collect_variables(namespace: dict, lines: dict[str, list[int]], graph, summaries,
                      library_modules: dict[str, str], made_on=lambda t: None,
                      tensor_of=lambda t: None) -> list[Variable]:
    """The variables, and each graph node's label: a variable's name, ``net.0 · Linear`` for an
    op that a library module ran (its own source is torch's, and the snippet's line would name
    the outermost call, ``net(x)``), else the source of the call."""
    leaf_nodes = {id(rec.variable): rec for rec in graph.records if rec.variable is not None}
    homes = _Homes(graph)
    variables = []
    for name, t, bound in named_tensors(namespace):
        rec = graph.get(t.grad_fn) if t.grad_fn is not None else leaf_nodes.get(id(t))
        if rec is not None and rec.variable is not None and rec.variable is not t:
            rec = None
        grad = t.grad if t.is_leaf or t.retains_grad else None
        line = bound_at(lines, bound, made_on(t) if name == bound else None)
        variables.append(Variable(
            name=name, line=line, shape=list(t.shape), dtype=dtype_name(t.dtype),
            device=str(t.device), requires_grad=t.requires_grad, is_leaf=t.is_leaf,
            value=summaries.of(t, FULL_VALUES_LIMIT, histogram=True, hold=True),
            grad=(summaries.of(grad, FULL_VALUES_LIMIT, histogram=True, hold=True)
                  if grad is not None else None),
            node=rec.node.id if rec is not None else None, retains_grad=t.retains_grad,
            tensor=tensor_of(t),
        ))
        if rec is not None and not rec.node.label:
            rec.node.label = name
            if rec.variable is not None and line:
                rec.node.line = line
            if rec.variable is not None and name != bound:  # a parameter: net.0.weight
                rec.node.module = homes.of(rec.node.id, name.rsplit(".", 1)[0])
    for rec in graph.records:
        if not rec.node.label:
            rec.node.label = _unnamed_label(rec.node, library_modules)
    return variables


def label_early(namespace: dict, graph, library_modules: dict[str, str]) -> list:
    """Labels for the graph a page is sent before the first pass, as collect_variables will
    give them from the names bound so far. Returns the nodes labelled: the caller clears their
    labels once that graph is out, and the run's end labels them for good."""
    leaf_nodes = {id(rec.variable): rec for rec in graph.records if rec.variable is not None}
    labelled = []
    for name, t, _ in named_tensors(namespace):
        rec = graph.get(t.grad_fn) if t.grad_fn is not None else leaf_nodes.get(id(t))
        if rec is not None and rec.variable in (None, t) and not rec.node.label:
            rec.node.label = name
            labelled.append(rec.node)
    for rec in graph.records:
        if not rec.node.label:
            rec.node.label = _unnamed_label(rec.node, library_modules)
            labelled.append(rec.node)
    return labelled


def _unnamed_label(node, library_modules: dict[str, str]) -> str:
    """``net.0 · Linear`` for an op a library module ran, else the source of the call (a leaf
    no name reaches: the call that made it)."""
    module = module_of_call(node.module) if node.module else None  # (its box says which call)
    cls = library_modules.get(module) if node.kind != "leaf" else None
    if cls:  # a module no top-level name reaches is named by its class alone
        return module if module == cls else f"{module} · {cls}"
    return node.span or node.op or node.name
