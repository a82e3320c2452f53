// Draws a scene of the graph on a 2-D canvas context: edges (data flow, gradients on them in the
// backward phase), then nodes shaped by kind (leaf, op, output) with their names and values.

import { drawGlyph, glyphKind } from "./glyphs.js";
import { nodeFace, shortValue } from "./scene.js";
import { nodeBox, onScreen, toScreen } from "./view.js";

function colors(canvas) {
  const style = getComputedStyle(canvas);
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
const DETAIL_PX = 10;
// No text is smaller than this: zoomed out, a node's text stays at this size while its box has
// room for it (the title first), then goes, and the box's shape and colour speak for it.
const MIN_PX = 9;
const GROUP_PX = 11;
// A module's box reaches this far (world units) above its nodes, and each box around it that
// much further; its name is drawn in that band when the band is NAME_PX tall on screen.
const BAND = 26;
const NESTED_BAND = 18;
const NAME_PX = 18;
const GLYPH_W = 40; // a node with a glyph keeps this much on its right for it
const padding = (node) => (node.kind === "leaf" ? 18 : 10); // a leaf's round ends need more

// The width a node's text needs at scale 1 (the widest face it can show), for view.fitLayers.
export function textWidth(ctx, node, faces) {
  const leaf = node.kind === "leaf";
  let widest = 0;
  for (const face of faces) {
    ctx.font = `${leaf ? "600 " : ""}${TITLE_PX}px ${FONT}`;
    const title = ctx.measureText(face.title).width;
    ctx.font = `${DETAIL_PX}px ${FONT}`;
    const detail = ctx.measureText(face.detail).width;
    // 6% spare: text drawn at other scales is not exactly proportionally wider
    widest = Math.max(widest, Math.max(title, detail) * 1.06 + 2 * padding(node)
                      + (glyphKind(face.glyph) ? GLYPH_W : 0));
  }
  return widest;
}

// Draws the scene and returns what it drew (window.gradtrace.drawn, a contract: DESIGN.md):
// each visible module's box, kind "group", and node's, kind "node", in screen pixels, with
// their texts, each with its size in pixels and, for nodes, its width and the room it had
// (tests check that no node boxes overlap and every text fits its box). `progress` (0..1)
// moves a pulse along the edges of the active nodes: values flowing into a new node in the
// forward phase, gradients leaving the running node in the backward phase. Off-screen nodes are skipped, and far
// away nodes are drawn as plain shapes in a few batched paths, so big graphs stay fast.
export function draw(canvas, graph, scene, view, selected, internals = false, progress = 1) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const c = colors(canvas);
  const nodes = graph.byId;
  const shown = (n) => scene.visible.has(n.id) && onScreen(view, nodeBox(n), width, height);
  const groups = drawModules(ctx, c, view,
                             graph.nodes.filter((n) => n.module && scene.visible.has(n.id)));
  if (view.scale < FAR) { return [...groups, ...drawFar(ctx, c, graph, scene, view, shown)]; }
  const chips = [];
  for (const edge of graph.edges) {
    const src = nodes.get(edge.src);
    const dst = nodes.get(edge.dst);
    if (scene.visible.has(edge.src) && scene.visible.has(edge.dst) && (shown(src) || shown(dst))) {
      const chip = drawEdge(ctx, c, view, src, dst, scene.edgeGrads.get(edge.key),
                            internals ? edge.slot : null);
      if (chip) { chips.push(chip); }
    }
  }
  const drawn = [];
  for (const node of graph.nodes) {
    if (shown(node)) {
      drawn.push(drawNode(ctx, c, view, node, scene, node.id === selected, internals, progress));
    }
  }
  drawChips(ctx, c, chips, drawn);
  drawn.unshift(...groups);
  if (progress < 1) {
    for (const edge of graph.edges) {
      if (scene.active.has(edge.dst) && scene.visible.has(edge.src)) {
        const backward = scene.phase === "backward";
        drawPulse(ctx, backward ? c.grad : c.forward, c.ink, view, nodes.get(edge.src),
                  nodes.get(edge.dst), backward ? 1 - progress : progress);
      }
    }
  }
  return drawn;
}

// Far away, a node is a few pixels: no text, straight edges, and one path per colour, so tens of
// thousands of nodes draw in a few milliseconds.
const FAR = 0.35;
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
    const [a, b] = edgeEnds(view, src, dst);
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
    if (!shown(node)) { continue; }
    const box = nodeBox(node);
    const p = toScreen(view, box.x, box.y);
    const [w, h] = [box.w * view.scale, box.h * view.scale];
    const kind = node.kind === "leaf" ? 0 : node.kind === "output" ? 2 : 1;
    const running = scene.active.has(node.id);
    if (running || fresh(pixelKey(p))) {
      (running ? active : kinds[kind]).rect(p.x, p.y, w, h);
    }
    drawn.push({ id: node.id, kind: "node", x: p.x, y: p.y, w, h, texts: [] });
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

function edgeEnds(view, src, dst) {
  const a = toScreen(view, src.x + nodeBox(src).w / 2, src.y);
  const b = toScreen(view, dst.x - nodeBox(dst).w / 2, dst.y);
  return [a, b, Math.max((b.x - a.x) / 2, 20)];
}

// The point at t (0..1) on an edge's cubic Bézier curve.
function bezierPoint(a, b, bend, t) {
  const u = 1 - t;
  return {
    x: u ** 3 * a.x + 3 * u * u * t * (a.x + bend) + 3 * u * t * t * (b.x - bend) + t ** 3 * b.x,
    y: u ** 3 * a.y + 3 * u * u * t * a.y + 3 * u * t * t * b.y + t ** 3 * b.y,
  };
}

function drawPulse(ctx, color, outline, view, src, dst, t) {
  const [a, b, bend] = edgeEnds(view, src, dst);
  const { x, y } = bezierPoint(a, b, bend, t);
  ctx.beginPath();
  ctx.arc(x, y, 7, 0, 2 * Math.PI);
  ctx.fillStyle = color;
  ctx.fill();
  ctx.lineWidth = 2;
  ctx.strokeStyle = outline;
  ctx.stroke();
}

// A labelled box around the nodes each nn.Module made, its submodules' nodes included (the
// layout keeps each module's nodes in a rectangle of their own); an outer box is padded more
// than the boxes inside it. Returns what it drew.
function drawModules(ctx, c, view, nodes) {
  // path -> the bounds of its nodes, and how many levels of modules it holds
  const groups = new Map();
  for (const n of nodes) {
    const box = nodeBox(n);
    const parts = n.module.split(".");
    for (let k = 1; k <= parts.length; k++) {
      const path = parts.slice(0, k).join(".");
      const group = groups.get(path);
      if (!group) {
        groups.set(path, { x0: box.x, y0: box.y, x1: box.x + box.w, y1: box.y + box.h,
                           below: parts.length - k });
        continue;
      }
      group.x0 = Math.min(group.x0, box.x);
      group.y0 = Math.min(group.y0, box.y);
      group.x1 = Math.max(group.x1, box.x + box.w);
      group.y1 = Math.max(group.y1, box.y + box.h);
      group.below = Math.max(group.below, parts.length - k);
    }
  }
  ctx.font = `${GROUP_PX}px ${FONT}`;
  ctx.textAlign = "left";
  const drawn = [];
  for (const [path, bounds] of groups) {
    const below = bounds.below;
    const side = 8 + 6 * below;
    const x0 = bounds.x0 - side;
    const y0 = bounds.y0 - BAND - NESTED_BAND * below;
    const x1 = bounds.x1 + side;
    const y1 = bounds.y1 + 6 + 6 * below;
    const a = toScreen(view, x0, y0);
    const b = toScreen(view, x1, y1);
    roundRect(ctx, a.x, a.y, b.x - a.x, b.y - a.y, 8);
    ctx.setLineDash([4, 4]);
    ctx.strokeStyle = c.muted;
    ctx.lineWidth = 1;
    ctx.stroke();
    ctx.setLineDash([]);
    // The name only where it fits, across and in its band above the boxes inside: a row of
    // small boxes must not become a smear of names.
    const band = (below ? NESTED_BAND : BAND) * view.scale;
    const named = ctx.measureText(path).width + 16 <= b.x - a.x && band >= NAME_PX;
    if (named) {
      ctx.fillStyle = c.muted;
      ctx.fillText(path, a.x + 8, a.y + 14);
    }
    drawn.push({ id: path, kind: "group", x: a.x, y: a.y, w: b.x - a.x, h: b.y - a.y,
                 texts: named ? [{ text: path, full: path, px: GROUP_PX }] : [] });
  }
  return drawn;
}

function drawEdge(ctx, c, view, src, dst, grad, slot) {
  const [a, b, bend] = edgeEnds(view, src, dst);
  ctx.beginPath();
  ctx.moveTo(a.x, a.y);
  ctx.bezierCurveTo(a.x + bend, a.y, b.x - bend, b.y, b.x, b.y);
  const level = grad ? gradLevel(grad) : 0;
  ctx.setLineDash(bad(grad) ? [6, 4] : []);
  ctx.strokeStyle = grad ? (bad(grad) ? c.bad : gradColor(level)) : c.edge;
  ctx.lineWidth = grad ? (bad(grad) ? 5 : 1.5 + level * 7) * Math.min(view.scale, 1.5) : 1.5;
  ctx.stroke();
  ctx.setLineDash([]);
  if (!grad && view.scale > 0.5) { // an arrowhead: data flows into the consumer
    const k = Math.min(view.scale, 1.5);
    ctx.beginPath();
    ctx.moveTo(b.x, b.y);
    ctx.lineTo(b.x - 7 * k, b.y - 3.5 * k);
    ctx.lineTo(b.x - 7 * k, b.y + 3.5 * k);
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
  return grad && view.scale > 0.5 ? { grad, a, b, bend } : null;
}

const CHIP_AT = [0.5, 0.35, 0.65, 0.2, 0.8]; // where along an edge its label may go, best first
const apart = (p, q) => p.x + p.w <= q.x || q.x + q.w <= p.x
  || p.y + p.h <= q.y || q.y + q.h <= p.y;

// Each gradient's value on a chip along its edge, at the first spot that covers no node and no
// other chip; an edge with no free spot goes without (its colour and the inspector still tell).
function drawChips(ctx, c, chips, nodeBoxes) {
  ctx.font = `bold 11px ${FONT}`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  const taken = [...nodeBoxes];
  for (const { grad, a, b, bend } of chips) {
    const text = edgeLabel(grad);
    const w = ctx.measureText(text).width + 8;
    for (const t of CHIP_AT) {
      const p = bezierPoint(a, b, bend, t);
      const rect = { x: p.x - w / 2, y: p.y - 8, w, h: 16 };
      if (taken.every((q) => apart(rect, q))) {
        taken.push(rect);
        roundRect(ctx, rect.x, rect.y, w, 16, 8);
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
  return bad(grad) ? `NaN/Inf ×${grad.nan + grad.inf}` : `‖${shortValue({ values: [grad.norm] })}‖`;
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
  const k = Math.min(view.scale, 1.6);
  const pad = padding(node) * k;
  let textW = w - 2 * pad;
  if (view.scale >= 0.6 && glyphKind(face.glyph)) {
    const gw = (GLYPH_W - 8) * k;
    drawGlyph(ctx, face.glyph, p.x + w - pad - gw, p.y + h * 0.18, gw, h * 0.64, c.muted);
    textW -= GLYPH_W * k;
  }
  const cx = p.x + pad + textW / 2;
  ctx.textAlign = "center";
  const line = (text, px, color, y, bold = false) => {
    const size = Math.max(px * k, MIN_PX); // unrounded: the text scales exactly as its box
    ctx.font = `${bold ? "600 " : ""}${size.toFixed(2)}px ${FONT}`;
    const shown = fit(ctx, text, textW);
    if (shown.length < Math.min(text.length, 4)) { return; } // too little room to say anything
    ctx.fillStyle = color;
    ctx.fillText(shown, cx, y);
    drawn.texts.push({ text: shown, full: text, px: size, width: ctx.measureText(shown).width,
                       room: textW });
  };
  const both = h >= 2.6 * MIN_PX; // room for two lines of at least MIN_PX
  if (both || h >= 1.4 * MIN_PX) {
    line(face.title, TITLE_PX, c.ink, both ? p.y + h * 0.44 : p.y + h / 2 + MIN_PX * 0.35, leaf);
  }
  if (both) { line(face.detail, DETAIL_PX, bad(face.glyph) ? c.bad : c.muted, p.y + h * 0.8); }
  if (internals && DETAIL_PX * k >= MIN_PX) { // what autograd keeps for backward, under the box
    const extra = leaf ? "AccumulateGrad" : (node.saved || []).length
      ? `saved: ${node.saved.map((e) => e.name.replace(/^_saved_/, "")).join(", ")}` : "";
    ctx.font = `italic ${(DETAIL_PX * k).toFixed(2)}px ${FONT}`;
    ctx.fillStyle = c.muted;
    ctx.fillText(fit(ctx, extra, w + 20 * k), p.x + w / 2, p.y + h + 12 * k);
  }
  return drawn;
}

// Text shortened with an ellipsis until it fits `width` pixels.
export function fit(ctx, text, width) {
  if (ctx.measureText(text).width <= width) { return text; }
  let s = text;
  while (s.length > 1 && ctx.measureText(`${s}…`).width > width) { s = s.slice(0, -1); }
  return `${s}…`;
}
