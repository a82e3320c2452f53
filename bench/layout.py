"""Walking the autograd graph and laying it out, against torchviz with graphviz's dot.

    python bench/layout.py [--reps N] [--torchviz]

For each workload the model runs its forward pass once, untimed; then, medians of N:
  walk      registering every node reachable from the loss's grad_fn (graph.Graph.discover, as
            a backward pass's walk does), without summaries
  layout    layout.layout on the graph as a capture leaves it (modules set, so each module's
            nodes go in a rectangle of their own)
Budget (issue 10): walk + layout <= 0.15 s at 10k nodes and <= 1 s at 50k. With --torchviz,
torchviz's make_dot plus `dot -Tsvg` on the same graph (60 s cap), as users would draw it.
Then the page's view layouts (views.py, issue 26): opening a collapsed group of about 2k nodes
(a transformer-like model of 64 blocks, all of it in one Sequential), budget <= 100 ms, and the
view a 10k-node transformer opens with. Last, what networkx would cost as the graph model on the
10k-node graph (issue 26 asks for it): building a DiGraph, its topological generations, and a
Weisfeiler-Lehman hash of every module's subgraph against grouping's own identical(); and on the
64k-node RNN, whether each loop iteration is one piece (is_weakly_connected on its subgraph)
against grouping's own check.
"""

from __future__ import annotations

import argparse
import bisect
import gc
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capture import mlp, rnn, torchviz_time, transformer  # noqa: E402  (the same workloads)

from gradtrace.capture import capture  # noqa: E402
from gradtrace.capture.batch import SummaryBatch  # noqa: E402
from gradtrace.capture.graph import Graph  # noqa: E402
from gradtrace.capture.session import TensorTable  # noqa: E402
from gradtrace.drawing.layout import layout  # noqa: E402
from gradtrace.drawing.views import view_layout  # noqa: E402
from gradtrace.trace import jsonio  # noqa: E402
from gradtrace.trace.wire import graph_wire  # noqa: E402


def workloads():
    return [("MLP width 32 (~1k nodes)", mlp(32, 200, 16), None),
            ("transformer-like (~10k nodes)", transformer(250), 0.15),
            ("unrolled RNN (~50k nodes)", rnn(8000), 1.0)]


# Each workload's forward graph, never run backward: freeing a 50k-node chain at once recurses in
# C++ past the stack, so they are kept, and the process ends with os._exit (as the worker does).
_GRAPHS: list = []


def measure(setup: str, body: str, reps: int) -> dict:
    namespace: dict = {}
    _GRAPHS.append(namespace)
    exec(setup, namespace)
    exec(body.replace("loss.backward()", ""), namespace)  # the graph, not yet run
    root = namespace["loss"].grad_fn
    trace = capture(body, preset={k: v for k, v in namespace.items() if k != "loss"})
    walks, layouts = [], []
    gc.disable()  # as in the worker
    try:
        for _ in range(reps):
            started = time.perf_counter()
            graph = Graph(SummaryBatch(), TensorTable(), max_nodes=1_000_000)
            graph.discover([root])  # a fresh graph: every node is new
            walks.append(time.perf_counter() - started)
            graph.release()
            started = time.perf_counter()
            layout(trace.nodes, trace.edges)
            layouts.append(time.perf_counter() - started)
    finally:
        gc.enable()
    return {"nodes": len(trace.nodes), "walk": statistics.median(walks),
            "layout": statistics.median(layouts)}


def view_times(reps: int) -> tuple[int, float, float]:
    """(nodes in the group, median ms to open it, median ms of the 10k-node opening view)."""
    medians = []
    for blocks, request in ((64, {"collapsed": [], "opened": "model"}),
                            (250, {"collapsed": None})):
        setup, body = transformer(blocks)
        namespace: dict = {}
        exec(setup, namespace)
        trace = capture(body, preset=namespace)
        wire = jsonio.loads(jsonio.dumps(graph_wire(trace.nodes, trace.edges, (), trace.modules)))
        times = []
        for _ in range(reps):
            memo: dict = {}  # the server keeps one per graph: the first request builds the tree
            if request.get("opened"):
                view_layout(wire, ["model"], memo=memo)  # the view before: the group collapsed
            started = time.perf_counter()
            view_layout(wire, request["collapsed"], opened=request.get("opened"), memo=memo)
            times.append(time.perf_counter() - started)
        medians.append((len(trace.nodes), statistics.median(times)))
    return medians[0][0], medians[0][1] * 1e3, medians[1][1] * 1e3


def captured(workload) -> tuple:
    """A workload's capture: (the trace, its nodes in id order, its edges as (source, consumer)
    positions in that order, each node's inputs), as the layout sees the graph."""
    setup, body = workload
    namespace: dict = {}
    exec(setup, namespace)
    trace = capture(body, preset=namespace)
    nodes = sorted(trace.nodes, key=lambda n: n.id)
    index = {n.id: i for i, n in enumerate(nodes)}
    edges = [(index[e.src], index[e.dst]) for e in trace.edges
             if e.src in index and e.dst in index]
    inputs: list[list[int]] = [[] for _ in nodes]
    for a, b in edges:
        inputs[b].append(a)
    return trace, nodes, edges, inputs


def networkx_costs(reps: int) -> str:
    import networkx as nx

    from gradtrace.drawing.grouping import Groups

    trace, nodes, edges, inputs = captured(transformer(250))
    groups = Groups(nodes, inputs, trace.modules)

    def timed(work, times: int = reps) -> float:
        spent = []
        for _ in range(times):
            started = time.perf_counter()
            work()
            spent.append(time.perf_counter() - started)
        return statistics.median(spent) * 1e3

    def build() -> nx.DiGraph:
        graph = nx.DiGraph()
        graph.add_nodes_from(range(len(nodes)))
        graph.add_edges_from(edges)
        return graph

    graph = build()

    def hashes() -> list[str]:
        with warnings.catch_warnings():  # networkx 3.5 warns that its hashes changed
            warnings.simplefilter("ignore")
            return [nx.weisfeiler_lehman_graph_hash(graph.subgraph(members))
                    for group, members in groups.members.items() if group]

    return (f"networkx on the {len(nodes)}-node graph: DiGraph {timed(build):.0f} ms, "
            f"topological generations {timed(lambda: list(nx.topological_generations(graph))):.0f}"
            f" ms; WL hash of its {len(groups.members) - 1} modules {timed(hashes, 1):.0f} ms "
            f"against grouping's identical() {timed(groups.identical):.0f} ms\n"
            + loop_pieces_costs(reps, timed))


def loop_pieces_costs(reps: int, timed) -> str:
    """The pieces of a loop: whether each iteration of the unrolled RNN is one piece of graph,
    networkx's weakly connected check on each iteration's subgraph against grouping's own."""
    import networkx as nx

    from gradtrace.drawing.grouping import _connected

    _, nodes, edges, inputs = captured(rnn(8000))
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(nodes)))
    graph.add_edges_from(edges)
    ends = sorted(n.step for n in nodes if n.name == "TanhBackward0")  # an iteration's last
    by_iteration: dict = {}
    for i, n in enumerate(nodes):
        if n.kind != "leaf" and n.step is not None:
            by_iteration.setdefault(bisect.bisect_left(ends, n.step), []).append(i)
    pieces = [m for m in by_iteration.values() if len(m) > 1]
    ours = timed(lambda: [_connected(m, inputs) for m in pieces])
    theirs = timed(lambda: [nx.is_weakly_connected(graph.subgraph(m)) for m in pieces])
    return (f"the pieces of the RNN's {len(pieces)} iterations ({len(nodes)} nodes): networkx "
            f"is_weakly_connected on each subgraph {theirs:.0f} ms against grouping's "
            f"{ours:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--torchviz", action="store_true", help="also time torchviz + dot")
    args = parser.parse_args()
    torch.set_num_threads(1)
    header = f"{'workload':32} {'nodes':>6} {'walk':>8} {'layout':>8} {'sum':>8} {'budget':>7}"
    print(f"torch {torch.__version__}, 1 thread, median of {args.reps}")
    print(header)
    print("-" * len(header))
    for name, (setup, body), budget in workloads():
        r = measure(setup, body, args.reps)
        total = r["walk"] + r["layout"]
        print(f"{name:32} {r['nodes']:>6} {r['walk'] * 1e3:>6.0f}ms {r['layout'] * 1e3:>6.0f}ms "
              f"{total * 1e3:>6.0f}ms {f'{budget:g} s' if budget else '—':>7}", flush=True)
        if args.torchviz:
            print(f"{'':32} torchviz: {torchviz_time(setup, body)}", flush=True)
    nodes, opening, first = view_times(args.reps)  # (collector on, as in the server)
    print(f"\nopening a collapsed group of {nodes} nodes: {opening:.0f} ms (budget 100 ms); "
          f"a 10k-node transformer's opening view: {first:.0f} ms")
    print(networkx_costs(args.reps))


if __name__ == "__main__":
    main()
    os._exit(0)
