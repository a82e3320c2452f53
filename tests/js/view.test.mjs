import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  fitView, hitTest, identity, nodeBox, overlaps, pan, toScreen, toWorld, zoomAt,
} from "../../static/js/view.js";

const near = (a, b) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);

test("screen and world coordinates round-trip", () => {
  const view = { scale: 1.5, tx: 10, ty: -4 };
  const s = toScreen(view, 100, 20);
  const w = toWorld(view, s.x, s.y);
  near(w.x, 100); near(w.y, 20);
});

test("zooming keeps the point under the cursor still", () => {
  const view = zoomAt(pan(identity(), 30, 40), 2, 200, 100);
  const before = toWorld(pan(identity(), 30, 40), 200, 100);
  const after = toWorld(view, 200, 100);
  near(before.x, after.x); near(before.y, after.y);
  assert.equal(view.scale, 2);
  assert.equal(zoomAt(identity(), 1e9, 0, 0).scale, 8);
});

test("fit shows every node inside the canvas", () => {
  const nodes = [{ id: 0, kind: "leaf", x: 0, y: 0 }, { id: 1, kind: "op", x: 800, y: 300 }];
  const view = fitView(nodes, 400, 300);
  for (const n of nodes) {
    const b = nodeBox(n);
    for (const [x, y] of [[b.x, b.y], [b.x + b.w, b.y + b.h]]) {
      const s = toScreen(view, x, y);
      assert.ok(s.x >= 0 && s.x <= 400 && s.y >= 0 && s.y <= 300, JSON.stringify(s));
    }
  }
});

test("hit-testing finds the node under the pointer", () => {
  const nodes = [{ id: 7, kind: "op", x: 100, y: 50 }];
  const view = { scale: 2, tx: 0, ty: 0 };
  assert.equal(hitTest(nodes, view, 200, 100), 7);
  assert.equal(hitTest(nodes, view, 0, 0), null);
});

test("the layouts of real traces never overlap", () => {
  const fixture = JSON.parse(readFileSync(process.env.GRADTRACE_EVENTS_FIXTURE, "utf8"));
  for (const { name, document } of fixture) {
    assert.deepEqual(overlaps(document.graph.nodes), [], name);
  }
  assert.deepEqual(overlaps([{ id: 0, kind: "op", x: 0, y: 0 }, { id: 1, kind: "op", x: 10, y: 10 }]),
                   [[0, 1]]);
});
