"""A layered layout of the autograd graph, flowing from inputs (leaves) to the loss.

Each node's layer is the length of the longest data-flow path reaching it (networkx's topological
generations), so every edge points forward. Inside a layer, nodes are ordered by the mean position
of their inputs (one barycentre sweep), with the node id breaking ties, so the result is
deterministic. Pure: networkx only, no torch, no Flask.
"""

from __future__ import annotations

import networkx as nx

LAYER_GAP = 160.0  # x distance between layers
ROW_GAP = 70.0  # y distance between nodes of a layer


def layout(nodes, edges) -> None:
    """Set ``x`` and ``y`` on each node (objects with ``id``, ``x``, ``y``) in place."""
    graph = nx.DiGraph()
    graph.add_nodes_from(n.id for n in nodes)
    graph.add_edges_from((e.src, e.dst) for e in edges if e.src != e.dst)
    position: dict[int, float] = {}
    layer_of: dict[int, int] = {}
    for layer, members in enumerate(_generations(graph)):
        keyed = []
        for node_id in members:
            preds = [position[p] for p in graph.predecessors(node_id) if p in position]
            keyed.append((sum(preds) / len(preds) if preds else -1.0, node_id))
        keyed.sort()
        for row, (_, node_id) in enumerate(keyed):
            position[node_id] = float(row)
            layer_of[node_id] = layer
    for n in nodes:
        n.x = layer_of.get(n.id, 0) * LAYER_GAP
        n.y = position.get(n.id, 0.0) * ROW_GAP


def _generations(graph: nx.DiGraph):
    try:
        return [sorted(g) for g in nx.topological_generations(graph)]
    except nx.NetworkXUnfeasible:  # a cycle cannot come from autograd; lay out in id order
        return [sorted(graph.nodes)]
