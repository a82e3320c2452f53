// The view: world (layout) coordinates <-> screen pixels, pan, zoom, fit, and hit-testing.
// Pure functions over plain objects, so they run under `node --test`.

// Node boxes in world units; the layout spaces layers 160 apart and rows 70 apart.
export const NODE_SIZE = Object.freeze({
  leaf: { w: 112, h: 40 }, op: { w: 128, h: 44 }, function: { w: 128, h: 44 },
  output: { w: 128, h: 48 }, group: { w: 176, h: 126 }, fold: { w: 176, h: 126 }, // two rows
});

export const MAX_NODE_WIDTH = 280;

// An open group's frame around its boxes, in world units (canvas.drawModules): its name band
// above them, each frame around another that much taller, and its sides and bottom padded by
// `pad` for each level of frames inside it, plus one.
export const FRAME = Object.freeze({ band: 26, nested: 18, pad: 6 });

// The least scale a fitted view takes: a box's title (12 px at scale 1) stays at 11 px or more.
// A picture too big for the pane at this scale shows its start, and pans.
export const READABLE_SCALE = 11 / 12;

// A node whose title takes two lines (wrap.js) is this much taller. Rows are 70 apart and the
// tallest box 48: it still leaves a gap.
export const TITLE_LINE = 14;

// A node's box: its kind's size, or the width fitLayers gave it; taller by a line when `tall`.
export function nodeBox(node) {
  const size = NODE_SIZE[node.kind] || NODE_SIZE.op;
  const w = node.w || size.w;
  const h = node.tall ? size.h + TITLE_LINE : size.h;
  return { x: node.x - w / 2, y: node.y - h / 2, w, h };
}

// The server lays layers out a fixed distance apart. Here each node gets the width its text needs
// (`needs(node)`: {w, tall}, w clamped; tall when its title takes two lines), and the layers move
// apart so that the widest node of each keeps `gap` from its neighbours. Returns new node
// objects; the input is not changed.
export function fitLayers(nodes, needs, gap = 48) {
  const sized = nodes.map((n) => {
    const base = (NODE_SIZE[n.kind] || NODE_SIZE.op).w;
    const { w, tall } = needs(n);
    const box = { ...n, w: Math.round(Math.min(Math.max(w, base), MAX_NODE_WIDTH)) };
    if (tall) { box.tall = true; }
    return box;
  });
  const widest = new Map();
  for (const n of sized) { widest.set(n.x, Math.max(widest.get(n.x) || 0, n.w)); }
  const layerX = new Map();
  let right = null;
  for (const x of [...widest.keys()].sort((a, b) => a - b)) {
    const w = widest.get(x);
    const centre = right === null ? x : right + gap + w / 2;
    layerX.set(x, centre);
    right = centre + w / 2;
  }
  return sized.map((n) => ({ ...n, x: layerX.get(n.x) }));
}

export function identity() {
  return { scale: 1, tx: 0, ty: 0 };
}

export function toScreen(view, x, y) {
  return { x: x * view.scale + view.tx, y: y * view.scale + view.ty };
}

export function toWorld(view, sx, sy) {
  return { x: (sx - view.tx) / view.scale, y: (sy - view.ty) / view.scale };
}

// [x0, y0, x1, y1]: the world box around every node's box (Infinity and -Infinity for none).
export function boundsOf(nodes) {
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const n of nodes) {
    const b = nodeBox(n);
    x0 = Math.min(x0, b.x); y0 = Math.min(y0, b.y);
    x1 = Math.max(x1, b.x + b.w); y1 = Math.max(y1, b.y + b.h);
  }
  return [x0, y0, x1, y1];
}

// The scale at which every node shows on a width x height canvas, with a margin in pixels.
export function wholeScale(nodes, width, height, margin = 32) {
  const [x0, y0, x1, y1] = boundsOf(nodes);
  return Math.min((width - 2 * margin) / (x1 - x0), (height - 2 * margin) / (y1 - y0));
}

// The view that shows every node, centred, with a margin in pixels; never zoomed past 2x.
export function fitView(nodes, width, height, margin = 32) {
  return nodes.length === 0 ? identity() : fitBounds(boundsOf(nodes), width, height, margin);
}

// The view that shows the world box [x0, y0, x1, y1], centred, with a margin in pixels and `top`
// more above (where the canvas's tools lie over it); never zoomed past 2x, and never below
// `least` (READABLE_SCALE: text stays readable). Along a side that then does not fit, the view
// shows the picture's start (its inputs) and the rest is reached by panning; `partial` says so.
export function fitBounds([x0, y0, x1, y1], width, height, margin = 32, least = 0, top = 0) {
  const whole = Math.min((width - 2 * margin) / (x1 - x0),
                         (height - top - 2 * margin) / (y1 - y0), 2);
  const scale = Math.max(whole, Math.min(least, 2));
  const place = (lo, hi, room) => ((hi - lo) * scale <= room - 2 * margin
    ? (room - (hi - lo) * scale) / 2 - lo * scale : margin - lo * scale);
  return { scale, tx: place(x0, x1, width), ty: top + place(y0, y1, height - top),
           partial: scale > whole };
}

// The presenter's view ({cx, cy, scale, w, h}: its centre, scale and canvas size) on a canvas
// of another size: the part of the graph the presenter sees, fitted here with a margin. Never
// closer than the presenter's scale, unless this canvas is the bigger one both ways.
export function followView({ cx, cy, scale, w, h }, nodes, width, height, margin = 16) {
  const [hw, hh] = [w / 2 / scale, h / 2 / scale];
  let [x0, y0, x1, y1] = boundsOf(nodes);
  [x0, y0, x1, y1] = [Math.max(x0, cx - hw), Math.max(y0, cy - hh), Math.min(x1, cx + hw),
                      Math.min(y1, cy + hh)];
  if (!(x1 > x0 && y1 > y0)) { [x0, y0, x1, y1] = [cx - hw, cy - hh, cx + hw, cy + hh]; }
  const closest = scale * Math.max(1, Math.min(width / w, height / h));
  const s = Math.min((width - 2 * margin) / (x1 - x0), (height - 2 * margin) / (y1 - y0), closest);
  return { scale: s, tx: width / 2 - ((x0 + x1) / 2) * s, ty: height / 2 - ((y0 + y1) / 2) * s };
}

// The view with `node` at the centre of a width x height canvas, at least at `scale` (so that
// its text reads).
export function centreOn(view, node, width, height, scale = 1) {
  const s = Math.max(view.scale, scale);
  return { scale: s, tx: width / 2 - node.x * s, ty: height / 2 - node.y * s };
}

export function pan(view, dx, dy) {
  return { ...view, tx: view.tx + dx, ty: view.ty + dy };
}

// Zoom by `factor` about the screen point (sx, sy): the world point under it stays put.
export function zoomAt(view, factor, sx, sy, min = 0.02, max = 8) {
  const scale = Math.min(Math.max(view.scale * factor, min), max);
  const world = toWorld(view, sx, sy);
  return { scale, tx: sx - world.x * scale, ty: sy - world.y * scale };
}

// Whether a box (world units) shows on a canvas of width x height pixels.
// Whether a world box shows on a width x height canvas at all, or with `whole`, all of it.
export function onScreen(view, box, width, height, whole = false) {
  const a = toScreen(view, box.x, box.y);
  const [w, h] = [box.w * view.scale, box.h * view.scale];
  return whole ? a.x >= 0 && a.y >= 0 && a.x + w <= width && a.y + h <= height
    : a.x < width && a.y < height && a.x + w > 0 && a.y + h > 0;
}

// The id of the node under the screen point, or null (the topmost: last drawn wins).
export function hitTest(nodes, view, sx, sy) {
  const p = toWorld(view, sx, sy);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const b = nodeBox(nodes[i]);
    if (p.x >= b.x && p.x <= b.x + b.w && p.y >= b.y && p.y <= b.y + b.h) { return nodes[i].id; }
  }
  return null;
}

// Pairs of node ids whose boxes overlap (a layout bug when not empty).
export function overlaps(nodes) {
  const found = [];
  const boxes = nodes.map((n) => [n.id, nodeBox(n)]);
  boxes.sort((a, b) => a[1].x - b[1].x);
  for (let i = 0; i < boxes.length; i++) {
    const [idA, a] = boxes[i];
    for (let j = i + 1; j < boxes.length && boxes[j][1].x < a.x + a.w; j++) {
      const [idB, b] = boxes[j];
      if (a.y < b.y + b.h && b.y < a.y + a.h) { found.push([idA, idB]); }
    }
  }
  return found;
}
