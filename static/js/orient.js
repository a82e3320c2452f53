// The picture's direction. The server lays a graph out left to right: layers across, rows down.
// On a pane taller than it is wide (a phone), or when asked, the same layout is turned top to
// bottom: layers down the page, rows side by side. Pure, for `node --test`.

import { ROW_GAP } from "./protocol.js";
import { FRAME, nodeBox, READABLE_SCALE, wholeScale } from "./view.js";

// Whether a graph is likely drawn top to bottom before it is laid out (for how many layers the
// opening view may have): asked for, or on "auto" when the pane is taller than wide.
export function goesDown(setting, width, height) {
  return setting === "down" || (setting !== "across" && height > width);
}

// The nodes to draw (sized by view.fitLayers) and whether they go top to bottom, for the
// direction `setting` ("across", "down" or "auto") on a width x height pane. On "auto", across
// when the picture shows whole that way with its text readable, or when it shows bigger that
// way than turned; else turned. So a short graph that the page folded into fewer, wider layers
// (the autograd tutorial's six nodes) turns to fit, and a long chain on a phone goes down it.
export function orient(setting, nodes, width, height) {
  if (setting === "across" || !nodes.length) { return { nodes, down: false }; }
  const stacked = stackLayers(nodes);
  if (setting === "down") { return { nodes: stacked, down: true }; }
  const across = wholeScale(nodes, width, height);
  const down = across < READABLE_SCALE && wholeScale(stacked, width, height) > across;
  return { nodes: down ? stacked : nodes, down };
}

const ROW_ROOM = 24; // between the columns that rows become
const EMPTY_ROW = 36; // a row the layout left free (a module's margin): room for frames' sides
const LAYER_ROOM = 36; // between layers, besides what frames opening and closing there take

// The nodes (as view.fitLayers sized them: one x per layer, y = row * ROW_GAP, a group's box
// two rows tall) turned top to bottom. Each layer becomes a band as tall as its tallest box,
// with room above it for the name bands of the frames that open there (canvas.drawModules) and
// the bottoms of those that closed; each row becomes a column as wide as its widest box, in the
// same order, so nothing that did not overlap across overlaps down. Each node also gets `lane`:
// the x of the gap right of its column, where an edge may run down past the boxes (cuts.js).
// Returns new node objects.
export function stackLayers(nodes) {
  if (!nodes.length) { return nodes; }
  const rows = (n) => (n.members ? 2 : 1);
  const firstRow = (n) => Math.round(n.y / ROW_GAP - (rows(n) - 1) / 2);
  const width = new Map();
  let [lo, hi] = [Infinity, -Infinity];
  for (const n of nodes) {
    const [r, k] = [firstRow(n), rows(n)];
    [lo, hi] = [Math.min(lo, r), Math.max(hi, r + k - 1)];
    for (let i = r; i < r + k; i++) {
      width.set(i, Math.max(width.get(i) || 0, (nodeBox(n).w - ROW_ROOM * (k - 1)) / k));
    }
  }
  const left = new Map();
  let x = 0;
  for (let r = lo; r <= hi; r++) {
    left.set(r, x);
    x += (width.get(r) || EMPTY_ROW) + ROW_ROOM;
  }
  const right = (r) => left.get(r) + (width.get(r) || EMPTY_ROW);

  const layerXs = [...new Set(nodes.map((n) => n.x))].sort((a, b) => a - b);
  const layerOf = new Map(layerXs.map((lx, i) => [lx, i]));
  const tall = layerXs.map(() => 0);
  const first = new Map(); // open group -> its first layer
  const last = new Map();
  const below = new Map(); // open group -> how many levels of frames it holds (its band)
  for (const n of nodes) {
    const layer = layerOf.get(n.x);
    tall[layer] = Math.max(tall[layer], nodeBox(n).h);
    const chain = n.chain || [];
    chain.forEach((g, k) => {
      first.set(g, Math.min(first.get(g) ?? layer, layer));
      last.set(g, Math.max(last.get(g) ?? layer, layer));
      below.set(g, Math.max(below.get(g) || 0, chain.length - 1 - k + (n.members ? 1 : 0)));
    });
  }
  const above = tall.map(() => 0); // room the frames opening at a layer take above it
  const after = tall.map(() => 0); // room the frames closing at a layer take below it
  for (const [g, layer] of first) {
    above[layer] = Math.max(above[layer], FRAME.band + FRAME.nested * below.get(g));
    const end = last.get(g);
    after[end] = Math.max(after[end], FRAME.pad * (1 + below.get(g)));
  }
  const top = [];
  let y = 0;
  tall.forEach((h, layer) => {
    y += layer === 0 ? above[0] : LAYER_ROOM + above[layer] + after[layer - 1];
    top.push(y);
    y += h;
  });
  return nodes.map((n) => {
    const [r, k, layer] = [firstRow(n), rows(n), layerOf.get(n.x)];
    return { ...n, x: (left.get(r) + right(r + k - 1)) / 2, y: top[layer] + tall[layer] / 2,
             lane: right(r + k - 1) + ROW_ROOM / 2 };
  });
}
