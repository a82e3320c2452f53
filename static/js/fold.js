// The teaching view folds away the nodes that only move data around (views, expands,
// transposes, copies), wiring their inputs straight to their consumers. The internals view shows
// the graph as it is. Pure, for `node --test`.

const PLUMBING = /^(View|UnsafeView|Reshape(Alias)?|Alias|Expand|T|Transpose|Permute|Unsqueeze|Squeeze|ToCopy|Clone|BackwardHookFunction)Backward\d*$/;

export function isPlumbing(node) {
  return node.kind === "op" && PLUMBING.test(node.name);
}

// {nodes, edges} with plumbing folded, except the nodes in `keep` (a copy that explains a None
// gradient: `.to()` on a leaf); edges keep the consumer's slot, so the gradient shown on a
// folded edge is the one the consumer sent along it.
export function foldGraph(graph, keep = new Set()) {
  const folded = new Set(graph.nodes.filter((n) => isPlumbing(n) && !keep.has(n.id))
    .map((n) => n.id));
  if (folded.size === 0) { return graph; }
  const inputs = new Map(); // folded node -> the edges into it
  for (const e of graph.edges) {
    if (folded.has(e.dst)) {
      if (!inputs.has(e.dst)) { inputs.set(e.dst, []); }
      inputs.get(e.dst).push(e);
    }
  }
  // Where a folded node's value really comes from (following chains of plumbing).
  const sources = (id, seen = new Set()) => {
    if (!folded.has(id)) { return [id]; }
    if (seen.has(id)) { return []; }
    seen.add(id);
    return (inputs.get(id) || []).flatMap((e) => sources(e.src, seen));
  };
  const edges = [];
  for (const e of graph.edges) {
    if (folded.has(e.dst)) { continue; }
    for (const src of sources(e.src)) { edges.push({ ...e, src }); }
  }
  return { nodes: graph.nodes.filter((n) => !folded.has(n.id)), edges };
}
