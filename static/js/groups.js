// The graph as the server's view layout (`layout`, views.py) shows it: the nodes of a collapsed
// module or loop fold give way to one box for the group, with the edges that crossed its border
// now ending at the box. Each thing shown knows the open groups around it (`chain`), so that
// the canvas can frame them. Pure, for `node --test`.

import { LAYER_GAP, ROW_GAP } from "./protocol.js";

// A group reply entry: [path, parent index, kind, label, collapsed, identical]
const group = ([path, parent, kind, label, collapsed, same]) => (
  { path, parent, kind, label, collapsed, same });

// The graph ({nodes, edges} of the document) with `reply` applied, for the nodes it laid out
// (all, or a loop's iteration): each collapsed group's nodes replaced by one box node,
// {id: "group:PATH", kind: "group" | "fold", path, label, same, members, leaves, entries,
// inShape, outShape}. An edge to a box keeps its own key (`${dst}:${slot}`, where
// scene.edgeGrads has its gradient). Without a reply that fits this graph, every node shows,
// framed by its module path.
export function viewGraph(graph, reply) {
  if (!reply || reply.nodes !== graph.nodes.length) { return byModules(graph); }
  const groups = reply.groups.map(group);
  const shut = groups.map(() => -1); // group -> the outermost collapsed group around it, or -1
  const chains = groups.map(() => null); // group -> the open groups around it and itself
  groups.forEach((g, k) => {
    const up = g.parent >= 0 ? shut[g.parent] : -1;
    shut[k] = up >= 0 ? up : g.collapsed ? k : -1;
    const outer = g.parent >= 0 ? chains[g.parent] : [];
    chains[k] = g.collapsed ? outer : [...outer, g.path];
  });
  const boxes = new Map(); // group index -> its box node
  const rep = new Map(); // node id -> the id it shows as
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const nodes = [];
  reply.ids.forEach((id, k) => {
    const n = byId.get(id);
    if (!n) { return; }
    const inner = reply.group[k];
    const at = { x: reply.layer[k] * LAYER_GAP, y: reply.row[k] * ROW_GAP };
    const hiding = inner >= 0 ? shut[inner] : -1;
    if (hiding < 0) {
      nodes.push({ ...n, ...at, chain: inner >= 0 ? chains[inner] : [] });
      rep.set(n.id, n.id);
      return;
    }
    let box = boxes.get(hiding);
    if (!box) {
      const g = groups[hiding];
      box = { id: `group:${g.path}`, kind: g.kind === "fold" ? "fold" : "group", path: g.path,
              label: g.label, same: g.same, x: at.x, y: at.y + ROW_GAP / 2, // two rows tall
              members: [], leaves: [], entries: [], inShape: null, outShape: null, values: [],
              chain: g.parent >= 0 ? chains[g.parent] : [] };
      boxes.set(hiding, box);
      nodes.push(box);
    }
    box.members.push(n.id);
    if (n.kind === "leaf") { box.leaves.push(n.id); }
    rep.set(n.id, box.id);
  });
  const boxOf = new Map([...boxes.values()].map((b) => [b.id, b]));
  const edges = [];
  const seen = new Set();
  for (const e of graph.edges) {
    const [src, dst] = [rep.get(e.src), rep.get(e.dst)];
    if (src === undefined || dst === undefined || src === dst) { continue; }
    const into = boxOf.get(dst);
    if (into) {
      into.entries.push(`${e.dst}:${e.slot}`);
      if (!into.inShape) { into.inShape = shapeOf(byId.get(e.src), e.output_nr); }
    }
    const from = boxOf.get(src);
    if (from && !from.outShape) { from.outShape = shapeOf(byId.get(e.src), e.output_nr); }
    const pair = `${src}>${dst}`;
    if (seen.has(pair)) { continue; }
    seen.add(pair);
    edges.push({ ...e, src, dst, key: `${e.dst}:${e.slot}` });
  }
  return { nodes, edges, groups };
}

// Without a view layout: every node, framed by its module path (net.0 inside net).
function byModules(graph) {
  const nodes = graph.nodes.map((n) => {
    const parts = n.module ? n.module.split(".") : [];
    return { ...n, chain: parts.map((_, k) => parts.slice(0, k + 1).join(".")) };
  });
  return { nodes, edges: graph.edges.map((e) => ({ ...e, key: `${e.dst}:${e.slot}` })),
           groups: [] };
}

const shapeOf = (node, slot) => {
  const value = node && node.values ? node.values[slot || 0] : null;
  return value && value.shape ? value.shape : null;
};

// The lines of a box: its name and class (`encoder.layers.3`, `TransformerEncoderLayer`; a
// fold's text), its input and output shapes, and once backward has passed through it its
// aggregate gradient: the norm of its parameters' .grad together, or with no parameters
// inside, of the gradients it sent to its inputs.
export function groupFace(box, scene) {
  const shape = (s) => (s ? (s.length ? s.join("×") : "scalar") : "?");
  const norm = scene ? aggregateNorm(box, scene) : null;
  return {
    title: box.kind === "fold" ? box.label || box.path : groupTitle(box.path),
    short: box.kind === "fold" ? null
      : groupTitle(box.path.split(".").slice(-2).join(".")), // layers.3
    kind: box.kind === "fold" ? "" : box.label,
    detail: box.outShape ? `${box.inShape ? `${shape(box.inShape)} ` : ""}→ ${shape(box.outShape)}`
      : "",
    grad: norm === null ? "" : `‖∇‖ ${Number(norm.toPrecision(3))}`,
  };
}

// A group's path as the page shows it: the n-th call of a module (`netD#2`, from the server)
// reads "netD (call 2)".
export const groupTitle = (path) => path.replace(/#(\d+)/g, " (call $1)");

export function aggregateNorm(box, scene) {
  const squares = (summaries) => summaries.filter((s) => s && typeof s.norm === "number")
    .reduce((sum, s) => sum + s.norm * s.norm, 0);
  const params = box.leaves.map((id) => scene.leafGrads.get(id)).filter(Boolean);
  if (params.length) { return Math.sqrt(squares(params)); }
  const sent = box.entries.map((key) => scene.edgeGrads.get(key)).filter(Boolean);
  return sent.length ? Math.sqrt(squares(sent)) : null;
}

// Whether a node or box shows at a frame, and whether it is running: a box when any of its
// nodes does.
export const anyOf = (ids, node) => (node.members ? node.members.some((id) => ids.has(id))
  : ids.has(node.id));

// The groups around a node (by its index in reply.ids), outermost first.
export function groupsAround(reply, index) {
  const paths = [];
  for (let g = reply.group[index]; g >= 0; g = reply.groups[g][1]) {
    paths.unshift(reply.groups[g][0]);
  }
  return paths;
}

// The collapsed paths of a reply whose box shows (no collapsed group around it).
export function collapsedPaths(reply) {
  return reply.groups.filter(([, parent, , , collapsed]) => collapsed
    && (parent < 0 || !reply.groups[parent][4])).map(([path]) => path);
}
