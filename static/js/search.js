// Finding things on the canvas: nodes by their label, autograd name, op or module, variables by
// name (their node). Pure, for `node --test`.

// The ids of the nodes that match `query` (any case), best first: a whole match, then the start
// of a word, then anywhere; ties in graph order. `variables` name nodes too (a weight's node).
export function searchHits(nodes, variables, query) {
  const q = query.trim().toLowerCase();
  if (!q) { return []; }
  const rank = new Map(); // node id -> best rank (0 best)
  const consider = (id, text) => {
    if (text === null || text === undefined) { return; }
    const t = String(text).toLowerCase();
    const at = t.indexOf(q);
    if (at < 0) { return; }
    const r = t === q ? 0 : at === 0 || /[\s.·_(]/.test(t[at - 1]) ? 1 : 2;
    if (!rank.has(id) || r < rank.get(id)) { rank.set(id, r); }
  };
  const order = new Map(nodes.map((n, i) => [n.id, i]));
  for (const n of nodes) {
    for (const text of [n.label, n.name, n.op, n.module]) { consider(n.id, text); }
  }
  for (const v of variables) {
    if (order.has(v.node)) { consider(v.node, v.name); }
  }
  return [...rank.keys()].sort((a, b) => rank.get(a) - rank.get(b) || order.get(a) - order.get(b));
}
