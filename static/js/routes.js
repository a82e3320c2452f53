// Edges that would pass under a box take a lane around it. An edge runs from its source's right
// side to its consumer's left side (top to bottom when the graph is turned, orient.js); one that
// skips layers (a residual connection past a block, a weight used far along) would cross the
// boxes between. Such an edge leaves its source's layer, turns in the free gap after it into a
// lane that no box lies across between the two layers (a gap between rows, nearest first, else
// past them all), runs along it, and turns back in the gap before its consumer's layer. Pure,
// for `node --test`.

import { nodeBox } from "./view.js";

const CLEAR = 6; // world units a lane keeps from any box
const TRIES = 60; // gaps looked at each way before the lane goes around all the boxes between

// A point given along the flow and across it.
const at = (down, along, across) => (down ? { x: across, y: along } : { x: along, y: across });

// A box as [along0, along1, across0, across1]: the flow's axis first (x across, y down).
function span(node, down) {
  const b = nodeBox(node);
  return down ? [b.y, b.y + b.h, b.x, b.x + b.w] : [b.x, b.x + b.w, b.y, b.y + b.h];
}

// {edge index -> {out, in, lane}} for each edge whose plain curve would cross a box: the lane's
// coordinate across the flow (y, or x when `down`), and where along the flow its source's layer
// ends (`out`) and its consumer's begins (`in`). Edges that cross nothing are left out.
export function routeEdges(nodes, edges, byId, down = false) {
  const boxes = nodes.map((n) => ({ id: n.id, s: span(n, down) })).sort((p, q) => p.s[0] - q.s[0]);
  const starts = boxes.map((b) => b.s[0]);
  const longest = boxes.reduce((w, b) => Math.max(w, b.s[1] - b.s[0]), 0);
  const between = (lo, hi) => { // the boxes that reach into (lo, hi) along the flow
    const found = [];
    for (let i = lowerBound(starts, lo - longest); i < boxes.length && starts[i] < hi; i++) {
      if (boxes[i].s[1] > lo) { found.push(boxes[i]); }
    }
    return found;
  };
  const layerEnds = new Map(); // a layer (its nodes' centre along the flow) -> its two ends
  for (const n of nodes) {
    const [key, s] = [down ? n.y : n.x, span(n, down)];
    const ends = layerEnds.get(key) || [Infinity, -Infinity];
    layerEnds.set(key, [Math.min(ends[0], s[0]), Math.max(ends[1], s[1])]);
  }
  const step = down ? 12 : 35; // rows lie 70 apart across: their gaps are found in two steps
  const routes = new Map();
  edges.forEach((e, k) => {
    const [src, dst] = [byId.get(e.src), byId.get(e.dst)];
    if (!src || !dst) { return; }
    const [a, b] = [span(src, down), span(dst, down)];
    if (b[0] <= a[1]) { return; }
    const inWay = between(a[1], b[0]).filter((box) => box.id !== src.id && box.id !== dst.id);
    const [ya, yb] = [(a[2] + a[3]) / 2, (b[2] + b[3]) / 2];
    if (!inWay.length || !curveCrosses(a[1], ya, b[0], yb, inWay)) { return; }
    const out = layerEnds.get(down ? src.y : src.x)[1];
    const into = layerEnds.get(down ? dst.y : dst.x)[0];
    const across = inWay.filter((box) => box.s[1] > out && box.s[0] < into);
    const clear = (lane) => !across.some((box) => box.s[2] - CLEAR < lane && box.s[3] + CLEAR > lane);
    let lane;
    for (let i = 1; i <= TRIES && lane === undefined; i++) {
      lane = [ya - i * step, ya + i * step].find(clear);
    }
    if (lane === undefined) { // every gap near is crossed somewhere: around them all, the near way
      const [top, bottom] = across.reduce(([t, b], box) => [Math.min(t, box.s[2]),
                                                            Math.max(b, box.s[3])], [ya, ya]);
      lane = ya - top < bottom - ya ? top - step : bottom + step;
    }
    routes.set(k, { out, in: into, lane });
  });
  return routes;
}

// Whether the plain curve from (x0, y0) to (x1, y1) (level at both ends, as canvas.js draws it)
// passes through one of `boxes` (spans along and across the flow). Both its coordinates move one
// way along it, so over a box's stretch of the flow it spans the heights at that stretch's ends.
function curveCrosses(x0, y0, x1, y1, boxes) {
  const bend = Math.max((x1 - x0) / 2, 20);
  const cubic = (a, p, q, b, t) => (1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * p
    + 3 * (1 - t) * t * t * q + t ** 3 * b;
  const heightAt = (x) => { // bisect the curve's parameter for x, then its height there
    let [lo, hi] = [0, 1];
    for (let i = 0; i < 24; i++) {
      const mid = (lo + hi) / 2;
      if (cubic(x0, x0 + bend, x1 - bend, x1, mid) < x) { lo = mid; } else { hi = mid; }
    }
    return cubic(y0, y0, y1, y1, lo);
  };
  return boxes.some((box) => {
    const [a, b] = [heightAt(Math.max(box.s[0], x0)), heightAt(Math.min(box.s[1], x1))];
    return Math.min(a, b) < box.s[3] + CLEAR && Math.max(a, b) > box.s[2] - CLEAR;
  });
}

// An edge's path in world units, as cubic segments [start, control, control, end]: out of the
// source's right side into the consumer's left (out of its bottom into the top when `down`), one
// curve whose bends reach at least `bend` along; or, with a route, out of the source's layer, a
// turn into the lane, along it, and a turn back in before the consumer's layer.
export function edgeCurve(src, dst, route, down = false, bend = 20) {
  const [as, bs] = [nodeBox(src), nodeBox(dst)];
  const a = down ? [as.y + as.h, src.x] : [as.x + as.w, src.y];
  const b = down ? [bs.y, dst.x] : [bs.x, dst.y];
  const point = (p) => at(down, p[0], p[1]);
  const line = (p, q) => [point(p), point(p), point(q), point(q)];
  const turn = (p, q) => { // level at both ends
    const k = Math.max((q[0] - p[0]) / 2, bend);
    return [point(p), point([p[0] + k, p[1]]), point([q[0] - k, q[1]]), point(q)];
  };
  if (!route) { return [turn(a, b)]; }
  const g = Math.min(24, (route.in - route.out) / 4); // the turns, inside the gaps
  const [o, i] = [[route.out, a[1]], [route.in, b[1]]];
  const [p, q] = [[route.out + g, route.lane], [route.in - g, route.lane]];
  return [line(a, o), turn(o, p), line(p, q), turn(q, i), line(i, b)];
}

// The point at t (0..1) along a path (edgeCurve), each segment an equal share of t.
export function curvePoint(path, t) {
  const k = Math.min(Math.floor(t * path.length), path.length - 1);
  const [a, p, q, b] = path[k];
  const s = t * path.length - k;
  const u = 1 - s;
  return { x: u ** 3 * a.x + 3 * u * u * s * p.x + 3 * u * s * s * q.x + s ** 3 * b.x,
           y: u ** 3 * a.y + 3 * u * u * s * p.y + 3 * u * s * s * q.y + s ** 3 * b.y };
}

// The first index of sorted `values` at or above `v`.
function lowerBound(values, v) {
  let [lo, hi] = [0, values.length];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (values[mid] < v) { lo = mid + 1; } else { hi = mid; }
  }
  return lo;
}
