// Where values left the graph: each recorded cut (.detach(), .data, .item(), an op the snippet ran
// under torch.no_grad(), ...), drawn as the tensor that left, joined to the node or leaf it came
// from by a dashed edge with a scissors mark named by the op. Pure, for `node --test`.

import { boundsOf, NODE_SIZE } from "./view.js";

// [{node, leaf, op, line, span, value, step}] for the cuts of `doc` that start at a node in
// `byId` (the graph drawn) or, for a leaf that is in no graph, at the named variable (`leaf`). A
// leaf cut before its first use in a graph (an eval under no_grad, then training) is cut at its
// node. A module's parameter in no graph is marked only when the snippet's own no_grad cut it:
// copying a module (`copy.deepcopy`, as TransformerEncoder does) reads every `.data` inside
// torch, and those are not the snippet's cuts.
// One mark per place a value was cut from and op: a no_grad block that runs a model cuts each
// weight once, however many passes it runs.
export function cutMarks(doc, byId) {
  const leaves = new Map();
  for (const v of doc.variables || []) {
    if (v.tensor !== null && v.tensor !== undefined && v.is_leaf && v.requires_grad) {
      leaves.set(v.tensor, v);
    }
  }
  const marks = [];
  const seen = new Set();
  for (const step of doc.steps) {
    // (a new tensor is no cut, unless it copied tensors in a graph: torch.tensor([a, b]))
    if (!step.cut || (step.cut === "tensor" && !(step.inputs || []).length)) { continue; }
    const variable = step.cut_node === undefined ? leafOf(step, leaves) : null;
    const drawn = variable && byId.has(variable.node) ? variable.node : null;
    const node = step.cut_node ?? drawn;
    const own = variable && (!variable.name.includes(".") || step.kind === "op");
    const leaf = node === null && own ? variable.name : null;
    const key = `${node ?? leaf}:${step.cut}`;
    if ((node === null ? leaf === null : !byId.has(node)) || seen.has(key)) { continue; }
    seen.add(key);
    marks.push({ node, leaf, op: step.cut, line: step.cut_line ?? step.line, span: step.span,
                 value: cutValue(step), step: step.index });
  }
  return marks;
}

// The variable of the first input that is a leaf that requires grad, if there is one.
const leafOf = (step, leaves) => {
  const tid = (step.inputs || []).find((t) => leaves.has(t));
  return tid === undefined ? null : leaves.get(tid);
};

// What left: the tensor's summary, or the Python number .item() gave.
function cutValue(step) {
  if (step.values && step.values.length) { return step.values[0]; }
  return typeof step.python_value === "number" ? { values: [step.python_value], shape: [] } : null;
}

const CUT = { w: 150, h: NODE_SIZE.op.h }; // the box of the tensor that left
const GAP = 30; // between boxes in the row of cuts
const LINK = 90; // a leaf in no graph sits this far left of its cut
const CHANNEL = 16; // an edge leaves its node to the right, down the gap between layers
const BEND = 14; // below the graph, where the first edge turns towards its box ...
const STAGGER = 8; // ... and each next one, lower, so that no two run along each other
const PILL_ROOM = 30; // above each box, for the scissors mark

// Where each mark is drawn, in world units: the tensors that left in one row below the graph,
// in the order of the places they left from, so that no box covers a node or another box. An
// edge leaves its node to the right, runs down the gap between layers, turns below the graph
// and comes down onto its box; the scissors mark sits just above the box. A leaf in no graph
// gets its own box, at the left of the row beside its cut. Returns [{...mark, box, from, route,
// pill}]: `box` and `from` node-like ({x, y} centres, `w`, `kind}: view.nodeBox measures
// them), `route` the edge's points and `pill` the mark's centre.
export function placeCuts(marks, nodes, byId) {
  const [x0, , , y1] = nodes.length ? boundsOf(nodes) : [0, 0, 0, 0];
  // drawn top to bottom (orient.js), the gap right of the node's column
  const channel = (node) => node.lane ?? node.x + nodeWidth(node) / 2 + CHANNEL;
  const orphans = marks.filter((m) => m.node === null);
  const anchored = marks.filter((m) => m.node !== null)
    .sort((a, b) => channel(byId.get(a.node)) - channel(byId.get(b.node)));
  const top = y1 + BEND + anchored.length * STAGGER + PILL_ROOM; // the boxes' top edge
  const y = top + CUT.h / 2;
  let cursor = x0;
  const placed = orphans.map((m) => {
    const w = leafWidth(m.leaf);
    const from = { x: cursor + w / 2, y, w, kind: "leaf", label: m.leaf };
    const x = cursor + w + LINK + CUT.w / 2;
    cursor = x + CUT.w / 2 + GAP;
    const route = [[from.x + w / 2, y], [x - CUT.w / 2, y]];
    return { ...m, from, box: { x, y, w: CUT.w, kind: "op" }, route,
             pill: { x: (route[0][0] + route[1][0]) / 2, y } };
  });
  const sharing = new Map(); // nodes of one layer share a gap: each edge keeps its own lane
  anchored.forEach((m, i) => {
    const from = byId.get(m.node);
    const lane = sharing.get(channel(from)) || 0;
    sharing.set(channel(from), lane + 1);
    const side = channel(from) + lane * STAGGER;
    const x = Math.max(side, cursor + CUT.w / 2);
    cursor = x + CUT.w / 2 + GAP;
    const bend = y1 + BEND + i * STAGGER;
    const route = [[from.x + nodeWidth(from) / 2, from.y], [side, from.y], [side, bend],
                   [x, bend], [x, top]];
    placed.push({ ...m, from, box: { x, y, w: CUT.w, kind: "op" }, route,
                  pill: { x, y: top - PILL_ROOM / 2 } });
  });
  return placed;
}

// Wide enough for the name at the usual size (bold 12 px: about 7.5 px a character).
const leafWidth = (name) => Math.min(Math.max(NODE_SIZE.leaf.w, name.length * 7.5 + 36), 280);
const nodeWidth = (node) => node.w || (NODE_SIZE[node.kind] || NODE_SIZE.op).w;

// The boxes placeCuts added, for fitting the view around the graph and its cuts.
export const cutBoxes = (placed) => placed.flatMap((p) => (p.node === null ? [p.from, p.box]
  : [p.box]));
