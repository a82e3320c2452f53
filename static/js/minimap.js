// The minimap: the whole graph small, with the part the canvas shows outlined. It appears only
// when some of the graph is out of view; a click there centres the canvas on that point.

import { boundsOf, fitView, nodeBox, toScreen, toWorld } from "./view.js";

// Whether any of `nodes` lies outside a width x height canvas seen through `view`: whether the
// box around them all does (kept per list of nodes: this runs every frame).
const bounds = new WeakMap();
export function overflows(nodes, view, width, height) {
  if (!bounds.has(nodes)) { bounds.set(nodes, boundsOf(nodes)); }
  const [x0, y0, x1, y1] = bounds.get(nodes);
  if (x0 > x1) { return false; } // no nodes
  const a = toScreen(view, x0, y0);
  const z = toScreen(view, x1, y1);
  return a.x < 0 || a.y < 0 || z.x > width || z.y > height;
}

// The outline, in the minimap's pixels (seen through `mini`), of what a width x height canvas
// shows through `view`.
export function outlineOf(mini, view, width, height) {
  const from = toWorld(view, 0, 0);
  const to = toWorld(view, width, height);
  const a = toScreen(mini, from.x, from.y);
  const b = toScreen(mini, to.x, to.y);
  return { x: a.x, y: a.y, w: b.x - a.x, h: b.y - a.y };
}

// Draws `nodes` small into the minimap canvas, with the canvas's view outlined; the node boxes
// are drawn once per `nodes` and colour, and kept (a pan only moves the outline). Returns the
// minimap's view.
const drawnBoxes = new WeakMap(); // minimap canvas -> {nodes, ink, image, mini}
export function drawMinimap(canvas, nodes, view, width, height, ink, accent) {
  const ratio = window.devicePixelRatio || 1;
  const [w, h] = [canvas.clientWidth, canvas.clientHeight];
  let cached = drawnBoxes.get(canvas);
  if (!cached || cached.nodes !== nodes || cached.ink !== ink
      || cached.image.width !== Math.round(w * ratio)) {
    const image = new OffscreenCanvas(Math.round(w * ratio), Math.round(h * ratio));
    const mini = fitView(nodes, w, h, 4);
    const ctx = image.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const boxes = new Path2D();
    for (const n of nodes) {
      const b = nodeBox(n);
      const p = toScreen(mini, b.x, b.y);
      boxes.rect(p.x, p.y, Math.max(b.w * mini.scale, 1), Math.max(b.h * mini.scale, 1));
    }
    ctx.fillStyle = ink;
    ctx.fill(boxes);
    cached = { nodes, ink, image, mini };
    drawnBoxes.set(canvas, cached);
  }
  canvas.width = cached.image.width;
  canvas.height = cached.image.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(cached.image, 0, 0);
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const outline = outlineOf(cached.mini, view, width, height);
  ctx.strokeStyle = accent;
  ctx.lineWidth = 1.5;
  ctx.strokeRect(outline.x, outline.y, outline.w, outline.h);
  return cached.mini;
}
