// A loop's iterations. With several backward passes the canvas shows one pass's graph at a time,
// the one the player is on: the nodes made by the forward steps that led up to it (or built by
// the pass), the nodes it ran, and what feeds them. Pure, for `node --test`.

import { anyOf } from "./groups.js";
import { ROW_GAP } from "./protocol.js";
import { passOfStep } from "./timeline.js";

const byDoc = new WeakMap();

// pass index -> {own, shown}: the ids of the nodes its iteration made, and of every node it
// shows (own ones, and those the pass ran that an earlier iteration made: shared parameters).
export function iterations(doc) {
  if (byDoc.has(doc)) { return byDoc.get(doc); }
  const found = new Map(doc.passes.map((p) => [p.index, { own: new Set(), shown: new Set() }]));
  for (const step of doc.steps) {
    const pass = passOfStep(doc, step.index);
    if (pass !== null) { for (const id of step.nodes) { found.get(pass).own.add(id); } }
  }
  for (const p of doc.passes) {
    const { own, shown } = found.get(p.index);
    for (const id of p.created_nodes || []) { own.add(id); }
    for (const id of own) { shown.add(id); }
    for (const s of p.steps) { if (s.node !== null) { shown.add(s.node); } }
  }
  byDoc.set(doc, found);
  return found;
}

// The ids of the nodes that show `iteration`: its own, those it ran, and those that feed them.
export function iterationNodes(graph, iteration) {
  const ids = new Set(iteration.shown);
  for (const e of graph.edges) { if (iteration.own.has(e.dst)) { ids.add(e.src); } }
  return [...ids].sort((a, b) => a - b);
}

// Before the server's layout of an iteration arrives (groups.js): the part of `graph`
// ({nodes, edges} with x and y) that shows `iteration`: its nodes and the
// nodes that feed them. A node an earlier iteration made (a shared parameter) moves to the row
// nearest the mean height of what it feeds among this iteration's own nodes (or the first free
// one below it), so that it sits beside its use in every iteration. A pass over a graph made
// before it (retain_graph) has no own nodes: its graph stays as it was laid out.
export function iterationGraph(graph, iteration) {
  const { own, shown } = iteration;
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const feeds = new Map(); // a node from elsewhere -> the ys of what it feeds here
  for (const e of graph.edges) {
    if (own.has(e.dst) && !own.has(e.src) && byId.has(e.src) && byId.has(e.dst)) {
      if (!feeds.has(e.src)) { feeds.set(e.src, []); }
      feeds.get(e.src).push(byId.get(e.dst).y);
    }
  }
  const picked = graph.nodes.filter((n) => anyOf(shown, n) || feeds.has(n.id));
  const taken = new Set(picked.filter((n) => !feeds.has(n.id)).map((n) => `${n.x},${n.y}`));
  const nodes = picked.map((n) => {
    const ys = feeds.get(n.id);
    if (!ys) { return n; }
    let y = Math.round(ys.reduce((a, b) => a + b, 0) / ys.length / ROW_GAP) * ROW_GAP;
    while (taken.has(`${n.x},${y}`)) { y += ROW_GAP; }
    taken.add(`${n.x},${y}`);
    return { ...n, y };
  });
  const kept = new Set(nodes.map((n) => n.id));
  return { nodes, edges: graph.edges.filter((e) => kept.has(e.src) && kept.has(e.dst)) };
}
