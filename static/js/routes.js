// Edges that would pass under a box take a lane around it. An edge runs from its source's right
// side to its consumer's left side (top to bottom when the graph is turned, orient.js); one that
// skips layers (a residual connection past a block, a weight used far along) would cross the
// boxes between. Such an edge leaves its source's layer, turns in the free gap after it into a
// lane that no box lies across between the two layers (the gap between rows nearest its source's
// row, else past them all), runs along it, and turns back in the gap before its consumer's
// layer. Pure, for `node --test`.

import { nodeBox } from "./view.js";

const CLEAR = 6; // world units a lane keeps from any box
const CURVE_POINTS = 64; // a plain curve's table, for where it passes each box
const PAST = 35; // how far outside all the boxes a lane runs when no gap between them is free

// A point given along the flow and across it.
const at = (down, along, across) => (down ? { x: across, y: along } : { x: along, y: across });

// A box as [along0, along1, across0, across1]: the flow's axis first (x across, y down).
function span(node, down) {
  const b = nodeBox(node);
  return down ? [b.y, b.y + b.h, b.x, b.x + b.w] : [b.x, b.x + b.w, b.y, b.y + b.h];
}

// {edge index -> {out, in, lane}} for each edge whose plain curve would cross a box: the lane's
// coordinate across the flow (y, or x when `down`; null when only its own layers' wider boxes are
// in the way: it turns in the gap between them), and where along the flow its source's layer ends
// (`out`) and its consumer's begins (`in`). Edges that cross nothing are left out.
export function routeEdges(nodes, edges, byId, down = false) {
  const boxes = nodes.map((n) => ({ id: n.id, s: span(n, down) })).sort((p, q) => p.s[0] - q.s[0]);
  const starts = boxes.map((b) => b.s[0]);
  const layerEnds = new Map(); // a layer (its nodes' centre along the flow) -> its two ends
  const layers = new Map(); // a layer -> its boxes
  for (const box of boxes) {
    const key = down ? byId.get(box.id).y : byId.get(box.id).x;
    const ends = layerEnds.get(key) || [Infinity, -Infinity];
    layerEnds.set(key, [Math.min(ends[0], box.s[0]), Math.max(ends[1], box.s[1])]);
    if (!layers.has(key)) { layers.set(key, []); }
    layers.get(key).push(box);
  }
  const routes = new Map();
  edges.forEach((e, k) => {
    const [src, dst] = [byId.get(e.src), byId.get(e.dst)];
    if (!src || !dst) { return; }
    const [a, b] = [span(src, down), span(dst, down)];
    const [srcLayer, dstLayer] = [down ? src.y : src.x, down ? dst.y : dst.x];
    const [out, into] = [layerEnds.get(srcLayer)[1], layerEnds.get(dstLayer)[0]];
    if (into <= out) { return; }
    const across = []; // the boxes of the layers between the two
    for (let i = lowerBound(starts, out); i < boxes.length && starts[i] < into; i++) {
      across.push(boxes[i]);
    }
    // and those of its own two layers wider than its ends, that reach into the curve's way
    const beside = [...(a[1] < out ? layers.get(srcLayer).filter((x) => x.s[1] > a[1]) : []),
                    ...(b[0] > into ? layers.get(dstLayer).filter((x) => x.s[0] < b[0]) : [])];
    const [ya, yb] = [(a[2] + a[3]) / 2, (b[2] + b[3]) / 2];
    if (!(across.length || beside.length)
        || !curveCrosses(a[1], ya, b[0], yb, [...across, ...beside])) { return; }
    if (!across.length) { // only its own layers' boxes: the turn waits for the gap between
      routes.set(k, { out, in: into, lane: null });
      return;
    }
    routes.set(k, { out, in: into, lane: nearestGap(ya, across) });
  });
  return routes;
}

// Whether the plain curve from (x0, y0) to (x1, y1) (level at both ends, as canvas.js draws it)
// passes through one of `boxes` (spans along and across the flow). Both its coordinates move one
// way along it, so over a box's stretch of the flow it spans the heights at that stretch's ends,
// read off a table of the curve's points.
function curveCrosses(x0, y0, x1, y1, boxes) {
  const bend = Math.max((x1 - x0) / 2, 20);
  const curve = [[{ x: x0, y: y0 }, { x: x0 + bend, y: y0 }, { x: x1 - bend, y: y1 },
                  { x: x1, y: y1 }]];
  const points = Array.from({ length: CURVE_POINTS + 1 },
                            (_, i) => curvePoint(curve, i / CURVE_POINTS));
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const heightAt = (x) => {
    const i = Math.min(Math.max(lowerBound(xs, x), 1), CURVE_POINTS);
    const f = xs[i] === xs[i - 1] ? 0 : (x - xs[i - 1]) / (xs[i] - xs[i - 1]);
    return ys[i - 1] + (ys[i] - ys[i - 1]) * Math.min(Math.max(f, 0), 1);
  };
  return boxes.some((box) => {
    const [a, b] = [heightAt(Math.max(box.s[0], x0)), heightAt(Math.min(box.s[1], x1))];
    return Math.min(a, b) < box.s[3] + CLEAR && Math.max(a, b) > box.s[2] - CLEAR;
  });
}

// An edge's path in world units, as cubic segments [start, control, control, end]: out of the
// source's right side into the consumer's left (out of its bottom into the top when `down`), one
// curve whose bends reach at least `bend` along; or, with a route, out of the source's layer, a
// turn into the lane, along it, and a turn back in before the consumer's layer (with no lane,
// one turn in the gap between the two layers).
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
  const [o, i] = [[route.out, a[1]], [route.in, b[1]]];
  if (route.lane === null) { return [line(a, o), turn(o, i), line(i, b)]; }
  const g = Math.min(24, (route.in - route.out) / 4); // the turns, inside the gaps
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

// The middle of the free gap across the flow, between `boxes` (spans along and across), nearest
// `y`: where rows lie 70 apart, the line between two rows; past them all when none is free.
function nearestGap(y, boxes) {
  const blocked = boxes.map((b) => [b.s[2] - CLEAR, b.s[3] + CLEAR]).sort((p, q) => p[0] - q[0]);
  const merged = [blocked[0]];
  for (const [lo, hi] of blocked.slice(1)) {
    const last = merged[merged.length - 1];
    if (lo <= last[1]) { last[1] = Math.max(last[1], hi); } else { merged.push([lo, hi]); }
  }
  const lanes = [merged[0][0] - PAST, merged[merged.length - 1][1] + PAST];
  for (let i = 0; i + 1 < merged.length; i++) { lanes.push((merged[i][1] + merged[i + 1][0]) / 2); }
  return lanes.reduce((best, lane) => (Math.abs(lane - y) < Math.abs(best - y) ? lane : best));
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
