// Draws a scene of the graph on a 2-D canvas context: edges (data flow, gradients on them in the
// backward phase), then nodes shaped by kind (leaf, op, output) with their names and values.

import { shortValue } from "./scene.js";
import { nodeBox, toScreen } from "./view.js";

function colors(canvas) {
  const style = getComputedStyle(canvas);
  const get = (name) => style.getPropertyValue(name).trim();
  return { ink: get("--ink"), muted: get("--muted"), line: get("--line"), node: get("--node"),
           forward: get("--forward"), grad: get("--grad"), leaf: get("--leaf"),
           error: get("--error"), active: get("--active"), bg: get("--bg") };
}

// Gradient magnitude -> stroke width: log scale, so 1e-6 and 1e6 both stay visible.
function gradWidth(summary) {
  const norm = typeof summary.norm === "number" ? Math.abs(summary.norm) : 1;
  return Math.min(1.5 + Math.max(Math.log10(norm + 1e-12) + 6, 0) * 0.6, 9);
}

const bad = (s) => s && (s.nan > 0 || s.inf > 0);

// `progress` (0..1) moves a pulse along the edges of the active nodes: values flowing into a new
// node in the forward phase, gradients leaving the running node in the backward phase.
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
  const nodes = new Map(graph.nodes.map((n) => [n.id, n]));
  drawModules(ctx, c, view, graph.nodes.filter((n) => scene.visible.has(n.id) && n.module));
  for (const edge of graph.edges) {
    if (scene.visible.has(edge.src) && scene.visible.has(edge.dst)) {
      drawEdge(ctx, c, view, nodes.get(edge.src), nodes.get(edge.dst),
               scene.edgeGrads.get(`${edge.dst}:${edge.slot}`), internals ? edge.slot : null);
    }
  }
  for (const node of graph.nodes) {
    if (scene.visible.has(node.id)) {
      drawNode(ctx, c, view, node, scene, node.id === selected);
    }
  }
  if (progress < 1) {
    for (const edge of graph.edges) {
      if (scene.active.has(edge.dst) && scene.visible.has(edge.src)) {
        const backward = scene.phase === "backward";
        drawPulse(ctx, backward ? c.grad : c.forward, c.ink, view, nodes.get(edge.src),
                  nodes.get(edge.dst), backward ? 1 - progress : progress);
      }
    }
  }
}

function edgeEnds(view, src, dst) {
  const a = toScreen(view, src.x + nodeBox(src).w / 2, src.y);
  const b = toScreen(view, dst.x - nodeBox(dst).w / 2, dst.y);
  return [a, b, Math.max((b.x - a.x) / 2, 20)];
}

function drawPulse(ctx, color, outline, view, src, dst, t) {
  const [a, b, bend] = edgeEnds(view, src, dst);
  const u = 1 - t; // the point at t on the edge's cubic Bézier curve
  const x = u ** 3 * a.x + 3 * u * u * t * (a.x + bend) + 3 * u * t * t * (b.x - bend) + t ** 3 * b.x;
  const y = u ** 3 * a.y + 3 * u * u * t * a.y + 3 * u * t * t * b.y + t ** 3 * b.y;
  ctx.beginPath();
  ctx.arc(x, y, 7, 0, 2 * Math.PI);
  ctx.fillStyle = color;
  ctx.fill();
  ctx.lineWidth = 2;
  ctx.strokeStyle = outline;
  ctx.stroke();
}

// A labelled box around the nodes each nn.Module made.
function drawModules(ctx, c, view, nodes) {
  const groups = new Map();
  for (const n of nodes) {
    if (!groups.has(n.module)) { groups.set(n.module, []); }
    groups.get(n.module).push(nodeBox(n));
  }
  ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "left";
  for (const [path, boxes] of groups) {
    const x0 = Math.min(...boxes.map((b) => b.x)) - 12;
    const y0 = Math.min(...boxes.map((b) => b.y)) - 22;
    const x1 = Math.max(...boxes.map((b) => b.x + b.w)) + 12;
    const y1 = Math.max(...boxes.map((b) => b.y + b.h)) + 10;
    const a = toScreen(view, x0, y0);
    const b = toScreen(view, x1, y1);
    roundRect(ctx, a.x, a.y, b.x - a.x, b.y - a.y, 8);
    ctx.setLineDash([4, 4]);
    ctx.strokeStyle = c.muted;
    ctx.lineWidth = 1;
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = c.muted;
    ctx.fillText(path, a.x + 8, a.y + 14);
  }
}

function drawEdge(ctx, c, view, src, dst, grad, slot) {
  const [a, b, bend] = edgeEnds(view, src, dst);
  ctx.beginPath();
  ctx.moveTo(a.x, a.y);
  ctx.bezierCurveTo(a.x + bend, a.y, b.x - bend, b.y, b.x, b.y);
  ctx.setLineDash(bad(grad) ? [6, 4] : []);
  ctx.strokeStyle = grad ? (bad(grad) ? c.error : c.grad) : c.line;
  ctx.lineWidth = grad ? gradWidth(grad) * Math.min(view.scale, 1.5) : 1.5;
  ctx.stroke();
  ctx.setLineDash([]);
  if (slot !== null && view.scale > 0.5) {
    ctx.fillStyle = c.muted;
    ctx.font = "10px system-ui, sans-serif";
    ctx.textAlign = "right";
    ctx.fillText(String(slot), b.x - 4, b.y - 4);
  }
  if (grad && view.scale > 0.5) {
    const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 6 };
    ctx.fillStyle = bad(grad) ? c.error : c.grad;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.fillText(edgeLabel(grad), mid.x, mid.y);
  }
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

function drawNode(ctx, c, view, node, scene, selected) {
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
  if (view.scale < 0.35) { return; } // level of detail: shapes only when far away
  let value = shortValue(node.values && node.values[0]);
  if (leaf && scene.leafGrads.has(node.id)) {
    const after = shortValue(scene.leafGrads.get(node.id));
    value = scene.leafBefore.has(node.id)  // accumulating right now: before -> after
      ? `grad ${shortValue(scene.leafBefore.get(node.id))} → ${after}` : `grad ${after}`;
  }
  const hasValue = node.values && node.values[0];
  const title = leaf || !hasValue ? node.label : `${node.label} = ${value}`;
  const detail = leaf ? value : `${node.op} · ${node.name}`;
  ctx.textAlign = "center";
  ctx.fillStyle = c.ink;
  ctx.font = `${Math.round(12 * Math.min(view.scale, 1.6))}px system-ui, sans-serif`;
  const cx = p.x + w / 2;
  ctx.fillText(fit(ctx, title, w - 8), cx, p.y + h * 0.42);
  ctx.fillStyle = c.muted;
  ctx.font = `${Math.round(10 * Math.min(view.scale, 1.6))}px system-ui, sans-serif`;
  ctx.fillText(fit(ctx, detail, w - 8), cx, p.y + h * 0.78);
}

// Text shortened with an ellipsis until it fits `width` pixels.
export function fit(ctx, text, width) {
  if (ctx.measureText(text).width <= width) { return text; }
  let s = text;
  while (s.length > 1 && ctx.measureText(`${s}…`).width > width) { s = s.slice(0, -1); }
  return `${s}…`;
}
