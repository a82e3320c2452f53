// Draws a scene of the graph on a 2-D canvas context: edges (data flow, gradients on them in the
// backward phase), then nodes shaped by kind (leaf, op, output) with their names and values.

import { drawGlyph, glyphKind } from "./glyphs.js";
import { anyOf, groupFace, groupTitle } from "./groups.js";
import { compactValue, nodeDevice, nodeFace, shortValue } from "./scene.js";
import { curvePoint, edgeCurve } from "./routes.js";
import { boundsOf, FRAME, MAX_NODE_WIDTH, nodeBox, onScreen, toScreen } from "./view.js";
import { splitTitle, wrappedWidth } from "./wrap.js";

// The theme's colours, from the canvas's style (or, for an export's stand-in, `styleOf`'s).
function colors(canvas) {
  const style = getComputedStyle(canvas.styleOf || canvas);
  const get = (name) => style.getPropertyValue(name).trim();
  return { ink: get("--ink"), muted: get("--muted"), edge: get("--edge"), node: get("--node"),
           forward: get("--forward"), grad: get("--grad"), leaf: get("--leaf"),
           bad: get("--bad"), active: get("--active"), bg: get("--bg") };
}

// Gradient magnitude, log scale from 1e-6 to 1e6, as 0..1: so 1e-6 and 1e6 both stay visible.
function gradLevel(summary) {
  const norm = typeof summary.norm === "number" ? Math.abs(summary.norm) : 1;
  return Math.min(Math.max((Math.log10(norm + 1e-12) + 6) / 12, 0), 1);
}

// Pale to deep orange as the magnitude grows (one hue: lightness reads for every kind of vision).
function gradColor(level) {
  const pale = [240, 200, 120];
  const deep = [170, 85, 0];
  const mix = pale.map((p, i) => Math.round(p + (deep[i] - p) * level));
  return `rgb(${mix.join(", ")})`;
}

const bad = (s) => s && (s.nan > 0 || s.inf > 0);

const FONT = "system-ui, sans-serif";
const TITLE_PX = 12;
const TITLE_LEADING = 1.15; // a title's second line, below its first, in its size
const DETAIL_PX = 10;
// No text is smaller than this: zoomed out, a node's text stays at this size while its box has
// room for it (the title first), then goes, and the box's shape and colour speak for it.
const MIN_PX = 9;
const GROUP_PX = 11;
// A module's box reaches FRAME.band (world units) above its nodes, and each box around it
// FRAME.nested further; its name is drawn in that band when the band is NAME_PX tall on screen.
const NAME_PX = 18;
const GLYPH_W = 40;
// Presenter mode: text, edge labels and pulses half as large again (main.js zooms the view to
// match, so the boxes grow with their text).
let big = 1;
export function setPresenting(on) { big = on ? 1.5 : 1; }
let down = false; // the graph drawn top to bottom (orient.js): edges leave boxes downwards
const kOf = (view) => Math.min(view.scale, 1.6 * big); // a node with a glyph keeps this much on its right for it
const padding = (node) => (node.kind === "leaf" ? 18 : 10); // a leaf's round ends need more

// The width a node's text needs at scale 1 (the widest face it can show), and whether its title
// takes two lines (wrap.js) because one would be wider than the widest box: for view.fitLayers.
export function textNeeds(ctx, node, faces) {
  const leaf = node.kind === "leaf";
  const titleWidth = summedWidth(ctx, `${leaf ? "600 " : ""}${TITLE_PX}px ${FONT}`);
  const detailWidth = summedWidth(ctx, `${DETAIL_PX}px ${FONT}`);
  let [widest, tall] = [0, false];
  for (const face of faces) {
    // 6% spare: text drawn at other scales is not exactly proportionally wider
    const frame = 2 * padding(node) + (glyphKind(face.glyph) ? GLYPH_W : 0);
    let title = titleWidth(face.title) * 1.06 + frame;
    if (title > MAX_NODE_WIDTH) {
      tall = true;
      title = wrappedWidth(titleWidth, face.title, (MAX_NODE_WIDTH - frame) / 1.06) * 1.06 + frame;
    }
    widest = Math.max(widest, title, detailWidth(face.detail) * 1.06 + frame);
  }
  return { w: widest, tall };
}

// A text's width in `font` as the sum of its characters', each measured once per context and
// font: a big graph's thousands of labels cost a few hundred measureText calls, not tens of
// thousands (about 10 µs each, a third of a 3,000-node page's start). Kerning and ligatures only
// narrow text, so the sum does not undercount what is drawn.
const charWidths = new WeakMap(); // context -> font -> character -> width
function summedWidth(ctx, font) {
  if (!charWidths.has(ctx)) { charWidths.set(ctx, new Map()); }
  const fonts = charWidths.get(ctx);
  if (!fonts.has(font)) { fonts.set(font, new Map()); }
  const widths = fonts.get(font);
  return (text) => {
    let width = 0;
    for (const ch of text) {
      let w = widths.get(ch);
      if (w === undefined) {
        ctx.font = font;
        w = ctx.measureText(ch).width;
        widths.set(ch, w);
      }
      width += w;
    }
    return width;
  };
}

// Draws the scene and returns what it drew (window.gradtrace.drawn, a contract: DESIGN.md):
// each visible module's box, kind "group", and node's, kind "node", in screen pixels, with
// their texts, each with its size in pixels and, for nodes, its width and the room it had
// (tests check that no node boxes overlap and every text fits its box). `progress` (0..1)
// moves a pulse along the edges of the active nodes: values flowing into a new node in the
// forward phase, gradients leaving the running node in the backward phase. Off-screen nodes are skipped, and far
// away nodes are drawn as plain shapes in a few batched paths, so big graphs stay fast.
export function draw(canvas, graph, scene, view, selected, internals = false, progress = 1,
                     zooming = false) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  down = Boolean(graph.down);
  drawnEdges = [];
  ctx.clearRect(0, 0, width, height);
  const c = colors(canvas);
  const nodes = graph.byId;
  const frame = frameOf(graph, scene);
  const { visible, active } = frame;
  const shown = (n) => visible.has(n.id) && onScreen(view, nodeBox(n), width, height);
  const groups = drawModules(ctx, c, view, moduleBounds(graph, visible), graph.labels);
  drawnCuts = [];
  if (view.scale < FAR) { // boxes keep their text: they are few, and they are the picture
    const far = drawFarCached(ctx, c, graph, frame, view, width, height, selected, zooming);
    const boxes = graph.nodes.filter((n) => n.members && shown(n))
      .map((n) => drawBox(ctx, c, view, n, frame, n.id === selected));
    return [...groups, ...far, ...boxes];
  }
  const chips = [];
  const routes = graph.routes || new Map();
  const pathOf = (edge, k) => edgePath(view, nodes.get(edge.src), nodes.get(edge.dst),
                                       routes.get(k));
  graph.edges.forEach((edge, k) => {
    const src = nodes.get(edge.src);
    const dst = nodes.get(edge.dst);
    if (visible.has(edge.src) && visible.has(edge.dst) && (shown(src) || shown(dst))) {
      const path = pathOf(edge, k);
      const chip = drawEdge(ctx, c, view, path, scene.edgeGrads.get(edge.key),
                            internals ? edge.slot : null);
      if (chip) { chips.push(chip); }
      drawnEdges.push({ src: edge.src, dst: edge.dst, path });
    }
  });
  const drawn = [];
  for (const node of graph.nodes) {
    if (!shown(node)) { continue; }
    drawn.push(node.members ? drawBox(ctx, c, view, node, frame, node.id === selected)
      : drawNode(ctx, c, view, node, frame, node.id === selected, internals, progress));
  }
  drawChips(ctx, c, chips, drawn);
  drawnCuts = (graph.cuts || []).filter((m) => frame.step >= m.step
      && (m.node === null || visible.has(m.node))
      && (onScreen(view, nodeBox(m.box), width, height)
          || onScreen(view, nodeBox(m.from), width, height)))
    .map((m) => drawCut(ctx, c, view, m));
  drawn.unshift(...groups);
  if (progress < 1) {
    graph.edges.forEach((edge, k) => {
      if (active.has(edge.dst) && visible.has(edge.src)) {
        const backward = scene.phase === "backward";
        drawPulse(ctx, backward ? c.grad : c.forward, c.ink, view, pathOf(edge, k),
                  backward ? 1 - progress : progress);
      }
    });
  }
  return drawn;
}

// What shows and what runs at a frame: a collapsed group's box when any node inside does. Kept
// for the last graph and scene: panning and zooming draw the same frame again.
let lastFrame = { graph: null, scene: null, frame: null };
function frameOf(graph, scene) {
  if (lastFrame.graph === graph && lastFrame.scene === scene) { return lastFrame.frame; }
  const visible = new Set();
  const active = new Set();
  for (const n of graph.nodes) {
    if (anyOf(scene.visible, n)) { visible.add(n.id); }
    if (anyOf(scene.active, n)) { active.add(n.id); }
  }
  lastFrame = { graph, scene, frame: { ...scene, visible, active } };
  return lastFrame.frame;
}

// Far away, the picture of the nodes and edges is the same from one frame to the next while
// only the view moves: it is drawn once into an offscreen canvas covering the whole graph (when
// that is at most CACHE_PX a side), then copied where the view puts it.
const CACHE_PX = 4096;
const NO_TEXTS = Object.freeze([]); // what a node far away says: one list for all of them
let farCache = { key: null };
function drawFarCached(ctx, c, graph, scene, view, width, height, selected, zooming) {
  const key = [graph, scene, selected, c.edge, c.node, view.scale];
  const same = farCache.key && key.every((part, i) => part === farCache.key[i]);
  // While the wheel turns, the last picture is scaled (within 2x) rather than drawn again;
  // main.js asks for an exact one once the zoom stops.
  const ratio = farCache.key ? view.scale / farCache.at.scale : 0;
  const scaled = !same && zooming && ratio >= 0.5 && ratio <= 2
    && key.slice(0, -1).every((part, i) => part === farCache.key[i]);
  if (!same && !scaled) {
    const [x0, y0, x1, y1] = boundsOf(graph.nodes);
    const [w, h] = [(x1 - x0) * view.scale + 4, (y1 - y0) * view.scale + 4];
    if (w > CACHE_PX || h > CACHE_PX) { // too big to keep: draw what is on screen
      farCache = { key: null };
      return drawFar(ctx, c, graph, scene, view,
                     (n) => scene.visible.has(n.id) && onScreen(view, nodeBox(n), width, height));
    }
    const pixels = window.devicePixelRatio || 1;
    const offscreen = farCache.canvas || window.document.createElement("canvas");
    offscreen.width = Math.ceil(w * pixels);
    offscreen.height = Math.ceil(h * pixels);
    const off = offscreen.getContext("2d");
    off.setTransform(pixels, 0, 0, pixels, 0, 0);
    const at = { scale: view.scale, tx: 2 - x0 * view.scale, ty: 2 - y0 * view.scale };
    const drawn = drawFar(off, c, graph, scene, at, (n) => scene.visible.has(n.id));
    farCache = { key, canvas: offscreen, at, drawn, w, h };
  }
  // a cache pixel q shows at (q - at.t) * k + view.t, k the scale since it was drawn
  const k = scaled ? ratio : 1;
  const dx = view.tx - farCache.at.tx * k;
  const dy = view.ty - farCache.at.ty * k;
  ctx.drawImage(farCache.canvas, dx, dy, farCache.w * k, farCache.h * k);
  const drawn = [];
  for (const d of farCache.drawn) {
    const [x, y, w, h] = [d.x * k + dx, d.y * k + dy, d.w * k, d.h * k];
    if (x < width && y < height && x + w > 0 && y + h > 0) { // (no spread: 50k of these)
      drawn.push({ id: d.id, kind: d.kind, x, y, w, h, texts: d.texts });
    }
  }
  return drawn;
}

// Far away, a node is a few pixels: no text, straight edges, and one path per colour, so tens of
// thousands of nodes draw in a few milliseconds.
export const FAR = 0.35;
// A point's pixel as one number (24 bits; the canvas is narrower than 4096 pixels).
const pixelKey = (p) => (Math.round(p.x) & 4095) * 4096 + (Math.round(p.y) & 4095);
const LEVELS = 4; // gradient colours far away: a few steps of the scale, one path each
const FAR_COLORS = Array.from({ length: LEVELS + 1 }, (_, i) => gradColor(i / LEVELS));
function drawFar(ctx, c, graph, scene, view, shown) {
  // A few pixels tall: nodes are solid dots, and of the many that land on the same pixel (or the
  // edges that join the same pixels) only one is drawn, since rasterising is the cost here.
  const tiny = view.scale * 40 < 6;
  const seen = new Set();
  const fresh = (key) => !tiny || (!seen.has(key) && seen.add(key));
  const plain = new Path2D();
  const broken = new Path2D(); // NaN/Inf
  const levels = FAR_COLORS.map(() => new Path2D());
  for (const edge of graph.edges) {
    if (!scene.visible.has(edge.src) || !scene.visible.has(edge.dst)) { continue; }
    const src = graph.byId.get(edge.src);
    const dst = graph.byId.get(edge.dst);
    if (!(shown(src) || shown(dst))) { continue; }
    const grad = scene.edgeGrads.get(edge.key);
    const path = !grad ? plain : bad(grad) ? broken : levels[Math.round(gradLevel(grad) * LEVELS)];
    const [[a, , , b]] = edgePath(view, src, dst, null);
    if (!fresh(pixelKey(a) * 16777216 + pixelKey(b))) { continue; }
    path.moveTo(a.x, a.y);
    path.lineTo(b.x, b.y);
  }
  ctx.lineWidth = 1;
  for (const [style, path] of [[c.edge, plain], ...FAR_COLORS.map((col, i) => [col, levels[i]]),
                               [c.bad, broken]]) {
    ctx.strokeStyle = style;
    ctx.stroke(path);
  }
  const drawn = [];
  const outlines = [c.leaf, c.forward, c.ink];
  const kinds = outlines.map(() => new Path2D());
  const active = new Path2D();
  seen.clear();
  for (const node of graph.nodes) {
    if (!shown(node) || node.members) { continue; } // boxes: drawBox
    const box = nodeBox(node);
    const p = toScreen(view, box.x, box.y);
    const [w, h] = [box.w * view.scale, box.h * view.scale];
    const kind = node.kind === "leaf" ? 0 : node.kind === "output" ? 2 : 1;
    const running = scene.active.has(node.id);
    if (running || fresh(pixelKey(p))) {
      (running ? active : kinds[kind]).rect(p.x, p.y, w, h);
    }
    drawn.push({ id: node.id, kind: "node", x: p.x, y: p.y, w, h, texts: NO_TEXTS });
  }
  kinds.forEach((path, i) => {
    ctx.fillStyle = tiny ? outlines[i] : c.node;
    ctx.fill(path);
    if (!tiny) {
      ctx.strokeStyle = outlines[i];
      ctx.stroke(path);
    }
  });
  ctx.fillStyle = c.grad; // the running node stands out even from afar
  ctx.fill(active);
  return drawn;
}

// An edge's path on screen (routes.edgeCurve, its bends at least 20 px).
const edgePath = (view, src, dst, route) => edgeCurve(src, dst, route, down, 20 / view.scale)
  .map((segment) => segment.map((p) => toScreen(view, p.x, p.y)));

function drawPulse(ctx, color, outline, view, path, t) {
  const { x, y } = curvePoint(path, t);
  ctx.beginPath();
  ctx.arc(x, y, 7 * big, 0, 2 * Math.PI);
  ctx.fillStyle = color;
  ctx.fill();
  ctx.lineWidth = 2;
  ctx.strokeStyle = outline;
  ctx.stroke();
}

// Each open group (an nn.Module, or a loop fold opened) -> the world bounds of the nodes and
// boxes shown inside it, its inner groups' included (the layout keeps each group in a rectangle
// of its own), and how many levels of groups it holds; kept for the last graph and frame.
let lastBounds = { graph: null, visible: null, groups: null };
function moduleBounds(graph, visible) {
  if (lastBounds.graph === graph && lastBounds.visible === visible) { return lastBounds.groups; }
  const groups = new Map();
  for (const n of graph.nodes) {
    if (!visible.has(n.id)) { continue; }
    const box = nodeBox(n);
    const chain = n.chain || [];
    chain.forEach((path, k) => {
      const below = chain.length - 1 - k + (n.members ? 1 : 0);
      const group = groups.get(path);
      if (!group) {
        groups.set(path, { x0: box.x, y0: box.y, x1: box.x + box.w, y1: box.y + box.h, below });
        return;
      }
      group.x0 = Math.min(group.x0, box.x);
      group.y0 = Math.min(group.y0, box.y);
      group.x1 = Math.max(group.x1, box.x + box.w);
      group.y1 = Math.max(group.y1, box.y + box.h);
      group.below = Math.max(group.below, below);
    });
  }
  lastBounds = { graph, visible, groups };
  return groups;
}

// The world rectangle [x0, y0, x1, y1] of an open group's frame around its bounds
// (moduleBounds): its name band above, its sides and bottom padded.
function frameRect({ x0, y0, x1, y1, below }) {
  const side = 8 + 6 * below;
  return [x0 - side, y0 - FRAME.band - FRAME.nested * below, x1 + side,
          y1 + FRAME.pad * (1 + below)];
}

// [x0, y0, x1, y1]: the world box around every open group's frame, for fitting the view to the
// picture with its frames and their names (Infinity and -Infinity for none).
export function framesBounds(graph) {
  const all = new Set(graph.nodes.map((n) => n.id));
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const bounds of moduleBounds(graph, all).values()) {
    const [a, b, c, d] = frameRect(bounds);
    [x0, y0, x1, y1] = [Math.min(x0, a), Math.min(y0, b), Math.max(x1, c), Math.max(y1, d)];
  }
  return [x0, y0, x1, y1];
}

// A labelled frame around each open group (moduleBounds); an outer frame is padded more than
// the frames inside it. `labels`: path -> a fold's text. Returns what it drew: kind "group" or
// "fold", open.
function drawModules(ctx, c, view, groups, labels) {
  ctx.font = `${GROUP_PX}px ${FONT}`;
  ctx.textAlign = "left";
  const drawn = [];
  for (const [path, bounds] of groups) {
    const below = bounds.below;
    const [x0, y0, x1, y1] = frameRect(bounds);
    const a = toScreen(view, x0, y0);
    const b = toScreen(view, x1, y1);
    roundRect(ctx, a.x, a.y, b.x - a.x, b.y - a.y, 8);
    ctx.setLineDash([4, 4]);
    ctx.strokeStyle = c.muted;
    ctx.lineWidth = 1;
    ctx.stroke();
    ctx.setLineDash([]);
    // The name only where it fits, across and in its band above the boxes inside: a row of
    // small boxes must not become a smear of names. A click on the band closes it.
    const fold = path.startsWith("loop:");
    const name = fold && labels ? labels.get(path) || path : groupTitle(path);
    const band = (below ? FRAME.nested : FRAME.band) * view.scale;
    const named = ctx.measureText(name).width + 16 <= b.x - a.x && band >= NAME_PX;
    if (named) {
      ctx.fillStyle = c.muted;
      ctx.fillText(name, a.x + 8, a.y + 14);
    }
    drawn.push({ id: path, kind: fold ? "fold" : "group", open: true, x: a.x, y: a.y,
                 w: b.x - a.x, h: b.y - a.y, band: Math.min(band, b.y - a.y),
                 texts: named ? [{ text: name, full: name, px: GROUP_PX }] : [] });
  }
  return drawn;
}

function drawEdge(ctx, c, view, path, grad, slot) {
  const [a, b] = [path[0][0], path[path.length - 1][3]];
  ctx.beginPath();
  ctx.moveTo(a.x, a.y);
  for (const [, p, q, end] of path) { ctx.bezierCurveTo(p.x, p.y, q.x, q.y, end.x, end.y); }
  const level = grad ? gradLevel(grad) : 0;
  ctx.setLineDash(bad(grad) ? [6, 4] : []);
  ctx.strokeStyle = grad ? (bad(grad) ? c.bad : gradColor(level)) : c.edge;
  ctx.lineWidth = grad ? (bad(grad) ? 5 : 1.5 + level * 7) * Math.min(view.scale, 1.5) : 1.5;
  ctx.stroke();
  ctx.setLineDash([]);
  if (!grad && view.scale > 0.5) { // an arrowhead: data flows into the consumer
    const k = Math.min(view.scale, 1.5);
    ctx.beginPath();
    const [along, across] = down ? [[0, -7 * k], [3.5 * k, 0]] : [[-7 * k, 0], [0, 3.5 * k]];
    ctx.moveTo(b.x, b.y);
    ctx.lineTo(b.x + along[0] - across[0], b.y + along[1] - across[1]);
    ctx.lineTo(b.x + along[0] + across[0], b.y + along[1] + across[1]);
    ctx.closePath();
    ctx.fillStyle = c.muted;
    ctx.fill();
  }
  if (slot !== null && view.scale > 0.5) {
    ctx.fillStyle = c.muted;
    ctx.font = "10px system-ui, sans-serif";
    ctx.textAlign = "right";
    ctx.fillText(String(slot), b.x - 4, b.y - 4);
  }
  return grad && view.scale > 0.5 ? { grad, path } : null;
}

const CHIP_AT = [0.5, 0.35, 0.65, 0.2, 0.8]; // where along an edge its label may go, best first
const apart = (p, q) => p.x + p.w <= q.x || q.x + q.w <= p.x
  || p.y + p.h <= q.y || q.y + q.h <= p.y;

// Each gradient's value on a chip along its edge, at the first spot that covers no node and no
// other chip; an edge with no free spot goes without (its colour and the inspector still tell).
// Past MAX_CHIPS (a weight used by thousands of ops, on screen), the rest go without too: each
// chip is checked against every one placed, and hundreds already cover the canvas.
const MAX_CHIPS = 300;
function drawChips(ctx, c, chips, nodeBoxes) {
  ctx.font = `bold ${11 * big}px ${FONT}`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  const taken = [...nodeBoxes];
  for (const { grad, path } of chips.slice(0, MAX_CHIPS)) {
    const text = edgeLabel(grad);
    const w = ctx.measureText(text).width + 8;
    for (const t of CHIP_AT) {
      const p = curvePoint(path, t);
      const h = 16 * big;
      const rect = { x: p.x - w / 2, y: p.y - h / 2, w, h };
      if (taken.every((q) => apart(rect, q))) {
        taken.push(rect);
        roundRect(ctx, rect.x, rect.y, w, h, h / 2);
        ctx.fillStyle = c.bg;
        ctx.fill();
        ctx.fillStyle = bad(grad) ? c.bad : c.ink;
        ctx.fillText(text, p.x, p.y + 0.5);
        break;
      }
    }
  }
  ctx.textBaseline = "alphabetic";
}

// A gradient in a few characters: the number itself, or the norm of a tensor.
function edgeLabel(grad) {
  if (grad.values && grad.values.length === 1) { return shortValue(grad); }
  return bad(grad) ? `NaN/Inf ×${grad.nan + grad.inf}`
    : `‖g‖ = ${shortValue({ values: [grad.norm] })}`; // the norm of the gradient (a tensor)
}

function roundRect(ctx, x, y, w, h, r) {
  ctx.beginPath();
  ctx.moveTo(x + r, y);
  ctx.arcTo(x + w, y, x + w, y + h, r);
  ctx.arcTo(x + w, y + h, x, y + h, r);
  ctx.arcTo(x, y + h, x, y, r);
  ctx.arcTo(x, y, x + w, y, r);
  ctx.closePath();
}

function drawNode(ctx, c, view, node, scene, selected, internals, progress) {
  const box = nodeBox(node);
  const p = toScreen(view, box.x, box.y);
  const w = box.w * view.scale;
  const h = box.h * view.scale;
  const leaf = node.kind === "leaf";
  roundRect(ctx, p.x, p.y, w, h, leaf ? h / 2 : 6 * view.scale);
  ctx.fillStyle = scene.active.has(node.id) ? c.active : c.node;
  ctx.fill();
  ctx.lineWidth = selected ? 3 : node.kind === "output" ? 2.5 : 1.2;
  ctx.strokeStyle = leaf ? c.leaf : node.kind === "output" ? c.ink : c.forward;
  ctx.stroke();
  const drawn = { id: node.id, kind: "node", x: p.x, y: p.y, w, h, texts: [] };
  const face = nodeFace(node, scene, progress);
  const k = kOf(view);
  const pad = padding(node) * k;
  let textW = w - 2 * pad;
  if (view.scale >= 0.6 && glyphKind(face.glyph)) {
    const gw = (GLYPH_W - 8) * k;
    drawGlyph(ctx, face.glyph, p.x + w - pad - gw, p.y + h * 0.18, gw, h * 0.64, c.muted);
    textW -= GLYPH_W * k;
  }
  const cx = p.x + pad + textW / 2;
  ctx.textAlign = "center";
  // A text on one line, or a title on two where the box was made tall for it (wrap.js): drawn
  // from baseline `y`, each line shortened only if it still does not fit.
  const line = (text, px, color, y, bold = false, shorter = null, wraps = false) => {
    const size = Math.max(px * k, MIN_PX); // unrounded: the text scales exactly as its box
    ctx.font = `${bold ? "600 " : ""}${size.toFixed(2)}px ${FONT}`;
    const measure = (t) => ctx.measureText(t).width;
    if (shorter && measure(text) > textW) { text = shorter; } // rather than cut
    const slices = wraps ? splitTitle(measure, text, textW) : [text];
    const shown = slices.map((slice) => fit(ctx, slices.length > 1 ? slice.trim() : slice, textW));
    if (shown[0].length < Math.min(text.length, 4)) { return; } // too little room to say anything
    ctx.fillStyle = color;
    shown.forEach((s, i) => ctx.fillText(s, cx, y + i * size * TITLE_LEADING));
    const whole = shown.every((s, i) => s === slices[i].trim() || s === slices[i]);
    drawn.texts.push({ text: whole ? slices.join("") : shown.join(" "), full: text, px: size,
                       width: Math.max(...shown.map(measure)), room: textW,
                       ...(shown.length > 1 ? { lines: shown } : {}) });
  };
  const detailColor = bad(face.glyph) ? c.bad : c.muted;
  if (node.tall && h >= (3.6 + TITLE_LEADING) * MIN_PX) { // two lines of title, then the detail
    line(face.title, TITLE_PX, c.ink, p.y + h * 0.3, leaf, null, true);
    line(face.detail, DETAIL_PX, detailColor, p.y + h * 0.86, false, face.shorter);
  } else {
    const both = h >= 2.6 * MIN_PX; // room for two lines of at least MIN_PX
    if (both || h >= 1.4 * MIN_PX) {
      line(face.title, TITLE_PX, c.ink, both ? p.y + h * 0.44 : p.y + h / 2 + MIN_PX * 0.35,
           leaf);
    }
    if (both) { line(face.detail, DETAIL_PX, detailColor, p.y + h * 0.8, false, face.shorter); }
  }
  const device = nodeDevice(node);
  if (device && DETAIL_PX * k >= MIN_PX) { // a GPU run names its device on every node
    pill(ctx, c.forward, c.bg, device, p, w, DETAIL_PX * k, "left", drawn);
  }
  if (internals && DETAIL_PX * k >= MIN_PX) { // what autograd keeps for backward, under the box
    const extra = leaf ? "AccumulateGrad" : (node.saved || []).length
      ? `saved: ${node.saved.map((e) => e.name.replace(/^_saved_/, "")).join(", ")}` : "";
    ctx.font = `italic ${(DETAIL_PX * k).toFixed(2)}px ${FONT}`;
    ctx.fillStyle = c.muted;
    ctx.fillText(fit(ctx, extra, w + 20 * k), p.x + w / 2, p.y + h + 12 * k);
  }
  return drawn;
}

// A small label on a box's top edge (`side`: "left" or "right"), when it fits in half the box.
function pill(ctx, fill, ink, text, p, w, px, side, drawn) {
  ctx.font = `600 ${px.toFixed(2)}px ${FONT}`;
  const mw = ctx.measureText(text).width + 10;
  if (mw >= w / 2) { return; }
  const x = side === "left" ? p.x + 4 : p.x + w - mw - 4;
  roundRect(ctx, x, p.y - px * 0.7, mw, px * 1.4, px * 0.7);
  ctx.fillStyle = fill;
  ctx.fill();
  ctx.fillStyle = ink;
  ctx.textAlign = "center";
  ctx.fillText(text, x + mw / 2, p.y + px * 0.35);
  drawn.texts.push({ text, full: text, px });
}

// A collapsed group's box: its lines (groupFace), "×6" on its corner when six groups are
// identical, drawn as a stack when it holds repeats, lit while the engine works inside it. A
// click opens it.
function drawBox(ctx, c, view, node, scene, selected) {
  const box = nodeBox(node);
  const p = toScreen(view, box.x, box.y);
  const w = box.w * view.scale;
  const h = box.h * view.scale;
  const running = scene.active.has(node.id);
  const r = 8 * Math.min(view.scale, 1);
  for (const offset of node.same > 1 || node.kind === "fold" ? [6, 3] : []) {
    roundRect(ctx, p.x + offset * Math.min(view.scale, 1), p.y - offset * Math.min(view.scale, 1),
              w, h, r);
    ctx.fillStyle = c.node;
    ctx.fill();
    ctx.strokeStyle = c.muted;
    ctx.lineWidth = 1;
    ctx.stroke();
  }
  roundRect(ctx, p.x, p.y, w, h, r);
  ctx.fillStyle = running ? c.active : c.node;
  ctx.fill();
  ctx.lineWidth = selected || running ? 3 : 2;
  ctx.strokeStyle = running ? c.grad : c.ink;
  ctx.stroke();
  const drawn = { id: node.id, kind: node.kind, open: false, running, x: p.x, y: p.y, w, h,
                  texts: [] };
  const face = groupFace(node, scene);
  const k = kOf(view);
  const pad = 10 * k;
  const size = (px) => Math.max(px * k, MIN_PX);
  // as many lines as fit, the name first, then the gradient, the class and the shapes; drawn
  // in that order from the top: name, class, shapes, gradient
  const lines = [[face.title, TITLE_PX, c.ink, "600 ", 0], [face.grad, DETAIL_PX, c.grad, "600 ", 3],
                 [face.kind, DETAIL_PX, c.ink, "", 1], [face.detail, DETAIL_PX, c.muted, "", 2]]
    .filter(([text]) => text);
  const lineH = (px) => size(px) * 1.35;
  const shown = [];
  let used = 0;
  for (const line of lines) {
    if (used + lineH(line[1]) > h - 4) { break; }
    used += lineH(line[1]);
    shown.push(line);
  }
  shown.sort((a, b) => a[4] - b[4]);
  ctx.textAlign = "center";
  let y = p.y + (h - used) / 2;
  for (const [text, px, color, weight] of shown) {
    const s = size(px);
    y += lineH(px);
    ctx.font = `${weight}${s.toFixed(2)}px ${FONT}`;
    // the name: whole if it fits, else its last two parts (layers.3)
    const short = text === face.title && face.short ? face.short : text;
    const fitted = ctx.measureText(text).width <= w - 2 * pad ? text : fit(ctx, short, w - 2 * pad);
    if (fitted.length < Math.min(short.length, 4)) { continue; }
    ctx.fillStyle = color;
    ctx.fillText(fitted, p.x + w / 2, y - s * 0.3);
    drawn.texts.push({ text: fitted, full: text, px: s, width: ctx.measureText(fitted).width,
                       room: w - 2 * pad });
  }
  if (node.same > 1) { pill(ctx, c.grad, c.bg, `×${node.same}`, p, w, size(DETAIL_PX), "right", drawn); }
  return drawn;
}

// The width a box needs at scale 1 for its longest line.
export function boxWidth(ctx, face) {
  ctx.font = `600 ${TITLE_PX}px ${FONT}`;
  let widest = ctx.measureText(face.title).width;
  ctx.font = `${DETAIL_PX}px ${FONT}`;
  for (const text of [face.kind, face.detail, "‖∇‖ 0.000"]) {
    widest = Math.max(widest, ctx.measureText(text).width);
  }
  return widest * 1.06 + 24;
}

// The edges the last frame drew near (window.gradtrace.edges, read when asked): each one's source
// and consumer ids and 21 points along its path, in screen pixels (tests check that none passes
// under a box).
let drawnEdges = [];
export const lastEdges = () => drawnEdges.map(({ src, dst, path }) => (
  { src, dst, points: Array.from({ length: 21 }, (_, i) => curvePoint(path, i / 20)) }));

// The cuts the last frame drew (window.gradtrace.cuts): {node, leaf, op, line, x, y, w, h} of
// each scissors mark in pixels, with `tensor`, the box of the value that left, and its texts.
let drawnCuts = [];
export const lastCuts = () => drawnCuts;

// A value that left the graph (cuts.js placeCuts): its box below the graph, a dashed edge to it
// from the node it came from (or from the leaf, drawn beside it, when the leaf is in no graph),
// and on that edge a scissors mark named by the op.
function drawCut(ctx, c, view, cut) {
  const k = kOf(view);
  if (cut.node === null) { cutBox(ctx, c, screenBox(view, cut.from), cut.leaf, "", k, c.leaf, true); }
  ctx.beginPath();
  cut.route.forEach(([x, y], i) => {
    const p = toScreen(view, x, y);
    if (i === 0) { ctx.moveTo(p.x, p.y); } else { ctx.lineTo(p.x, p.y); }
  });
  ctx.setLineDash([4, 3]);
  ctx.strokeStyle = c.bad;
  ctx.lineWidth = cut.focused ? 3 : 1.5; // the cut of the problem clicked
  ctx.stroke();
  ctx.setLineDash([]);
  const tensor = cutBox(ctx, c, screenBox(view, cut.box), cut.span,
                        `= ${compactValue(cut.value)}`, k, c.bad, false);
  const size = Math.max(DETAIL_PX * k, MIN_PX);
  ctx.font = `600 ${size.toFixed(2)}px ${FONT}`;
  const text = `✂ ${cut.op}`;
  const w = ctx.measureText(text).width + 10;
  const h = size * 1.6;
  const centre = toScreen(view, cut.pill.x, cut.pill.y);
  const p = { x: centre.x - w / 2, y: centre.y - h / 2 };
  roundRect(ctx, p.x, p.y, w, h, h / 2);
  ctx.fillStyle = c.bg;
  ctx.fill();
  ctx.strokeStyle = c.bad;
  ctx.stroke();
  ctx.fillStyle = c.bad;
  ctx.textAlign = "left";
  ctx.fillText(text, p.x + 5, p.y + h * 0.7);
  return { node: cut.node, leaf: cut.leaf, op: cut.op, line: cut.line, x: p.x, y: p.y, w, h,
           tensor, focused: Boolean(cut.focused) };
}

const screenBox = (view, node) => {
  const box = nodeBox(node);
  const p = toScreen(view, box.x, box.y);
  return { x: p.x, y: p.y, w: box.w * view.scale, h: box.h * view.scale };
};

// The box of a tensor that left the graph (dashed) or of a leaf in no graph (round ends), with
// a title and a detail line while they fit. Returns it in screen pixels, with its text.
function cutBox(ctx, c, box, title, detail, k, stroke, leaf) {
  roundRect(ctx, box.x, box.y, box.w, box.h, leaf ? box.h / 2 : 6 * k);
  ctx.fillStyle = c.node;
  ctx.fill();
  if (!leaf) { ctx.setLineDash([5, 3]); }
  ctx.lineWidth = 1.2;
  ctx.strokeStyle = stroke;
  ctx.stroke();
  ctx.setLineDash([]);
  const drawn = { x: box.x, y: box.y, w: box.w, h: box.h, texts: [] };
  const room = box.w - 20 * k;
  ctx.textAlign = "center";
  const both = box.h >= 2.6 * MIN_PX;
  [[title, TITLE_PX, c.ink, both && detail ? 0.44 : 0.6], [detail, DETAIL_PX, c.muted, 0.8]]
    .forEach(([text, px, color, at], i) => {
      if (!text || (i === 1 && !both) || box.h < 1.4 * MIN_PX) { return; }
      ctx.font = `${leaf && i === 0 ? "600 " : ""}${Math.max(px * k, MIN_PX).toFixed(2)}px ${FONT}`;
      const shown = fit(ctx, text, room);
      ctx.fillStyle = color;
      ctx.fillText(shown, box.x + box.w / 2, box.y + box.h * at);
      drawn.texts.push(shown);
    });
  return drawn;
}

// Text shortened with an ellipsis until it fits `width` pixels.
export function fit(ctx, text, width) {
  if (ctx.measureText(text).width <= width) { return text; }
  let s = text;
  while (s.length > 1 && ctx.measureText(`${s}…`).width > width) { s = s.slice(0, -1); }
  return `${s}…`;
}
