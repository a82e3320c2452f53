import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { stackLayers } from "../../static/js/orient.js";
import { curvePoint, edgeCurve, routeEdges } from "../../static/js/routes.js";
import { fitLayers, nodeBox } from "../../static/js/view.js";

// The edges of `nodes` whose drawn path passes through a box other than its two ends.
function under(nodes, edges, down) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const routes = routeEdges(nodes, edges, byId, down);
  const crossing = [];
  edges.forEach((e, k) => {
    const [src, dst] = [byId.get(e.src), byId.get(e.dst)];
    const path = edgeCurve(src, dst, routes.get(k), down);
    for (let i = 1; i < 200; i++) {
      const p = curvePoint(path, i / 200);
      const hit = nodes.find((n) => n !== src && n !== dst && inside(p, nodeBox(n)));
      if (hit) { crossing.push([e.src, e.dst, hit.id]); return; }
    }
  });
  return crossing;
}
const inside = (p, b) => b.x + 1 < p.x && p.x < b.x + b.w - 1 && b.y + 1 < p.y && p.y < b.y + b.h - 1;
const op = (id, layer, row) => ({ id, kind: "op", label: `n${id}`, x: layer * 160, y: row * 70 });

test("a residual edge past a block goes around it, not under it", () => {
  // x -> f1 -> f2 -> f3 -> add, and x -> add: the skip would run under f1..f3
  const nodes = fitLayers([op(0, 0, 0), op(1, 1, 0), op(2, 2, 0), op(3, 3, 0), op(4, 4, 0)],
                          () => ({ w: 128 }));
  const edges = [[0, 1], [1, 2], [2, 3], [3, 4], [0, 4]].map(([src, dst]) => ({ src, dst }));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const routes = routeEdges(nodes, edges, byId);
  assert.deepEqual([...routes.keys()], [4]); // only the skip needs a lane
  assert.ok(Math.abs(routes.get(4).lane) >= 35); // a gap between rows, clear of the row
  assert.deepEqual(under(nodes, edges, false), []);
  assert.deepEqual(under(stackLayers(nodes), edges, true), []);
});

test("no edge of a real trace passes under a box, across or turned top to bottom", () => {
  const fixture = JSON.parse(readFileSync(process.env.GRADTRACE_EVENTS_FIXTURE, "utf8"));
  for (const { name, document } of fixture) {
    const nodes = fitLayers(document.graph.nodes, (n) => ({ w: n.label.length * 7 + 20 }));
    assert.deepEqual(under(nodes, document.graph.edges, false), [], name);
    assert.deepEqual(under(stackLayers(nodes), document.graph.edges, true), [], name);
  }
});
