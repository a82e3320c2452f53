import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  boundsOf, fitBounds, fitLayers, fitView, followView, hitTest, identity, MAX_NODE_WIDTH, nodeBox,
  onScreen, overlaps, pan, READABLE_SCALE, toScreen, toWorld, zoomAt,
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

test("a fit never goes below a readable scale: a long picture shows its start and pans", () => {
  const chain = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => ({ id: i, kind: "op", x: i * 200, y: 0 }));
  const view = fitBounds(boundsOf(chain), 880, 500, 16, READABLE_SCALE, 40);
  assert.equal(view.scale, READABLE_SCALE); // a title of 12 px at scale 1 reads 11 px
  assert.ok(view.partial);
  const first = nodeBox(chain[0]);
  near(toScreen(view, first.x, 0).x, 16); // the inputs, at the left margin
  near(toScreen(view, 0, 0).y, 40 + (500 - 40) / 2); // centred below the tools, along the side that fits
  assert.ok(!onScreen(view, nodeBox(chain[9]), 880, 500)); // the end is reached by panning
  // a picture that fits shows whole, centred, and is not partial
  const small = fitBounds(boundsOf(chain.slice(0, 3)), 880, 500, 16, READABLE_SCALE, 40);
  assert.ok(small.scale > READABLE_SCALE && !small.partial);
  for (const n of chain.slice(0, 3)) { assert.ok(onScreen(small, nodeBox(n), 880, 500, true)); }
});

test("a narrower viewer frames the part of the graph the presenter sees, no closer", () => {
  const nodes = [0, 1, 2, 3, 4, 5].map((i) => ({ id: i, kind: "op", x: i * 200, y: 0 }));
  // the presenter sees nodes 1 to 3 on a 900 x 500 canvas, at scale 1.5
  const shown = { cx: 400, cy: 0, scale: 1.5, w: 900, h: 500 };
  const seen = (view, width, height) => nodes
    .filter((n) => onScreen(view, nodeBox(n), width, height, true)).map((n) => n.id);
  const presenters = { scale: 1.5, tx: 450 - 400 * 1.5, ty: 250 };
  assert.deepEqual(seen(presenters, 900, 500), [1, 2, 3]);
  assert.deepEqual(seen(followView(shown, nodes, 600, 400), 600, 400), [1, 2, 3]);
  const whole = { ...shown, scale: 0.5, w: 1400, cx: 500 };
  assert.deepEqual(seen(followView(whole, nodes, 600, 400), 600, 400), [0, 1, 2, 3, 4, 5]);
  // a bigger screen both ways may come closer; a smaller one never past the presenter's scale
  assert.ok(followView(shown, nodes, 1800, 1000).scale > shown.scale);
  assert.ok(followView(shown, nodes, 600, 400).scale <= shown.scale);
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

test("layers move apart to fit their widest node, and real traces still never overlap", () => {
  const fixture = JSON.parse(readFileSync(process.env.GRADTRACE_EVENTS_FIXTURE, "utf8"));
  const widthOf = (n) => ({ w: n.label.length * 9 + 20 }); // wide labels: layers must spread
  for (const { name, document } of fixture) {
    const nodes = fitLayers(document.graph.nodes, widthOf);
    assert.deepEqual(overlaps(nodes), [], name);
    for (const n of nodes) {
      assert.ok(n.w >= 112 && n.w <= MAX_NODE_WIDTH, `${name}: ${n.label} ${n.w}`);
    }
  }
  const nodes = fitLayers([{ id: 0, kind: "leaf", x: 0, y: 0 }, { id: 1, kind: "op", x: 160, y: 0 },
                           { id: 2, kind: "op", x: 160, y: 70 }, { id: 3, kind: "op", x: 320, y: 0 }],
                          (n) => ({ w: n.id === 2 ? 240 : 10 }), 40);
  assert.deepEqual(nodes.map((n) => n.w), [112, 128, 240, 128]);
  assert.equal(nodes[1].x, nodes[2].x); // a layer stays a column
  assert.equal(nodes[1].x - 120, 56 + 40); // its widest node keeps the gap from the last layer
  assert.equal(nodes[3].x - 64, nodes[1].x + 120 + 40);
  assert.equal(nodes[0].x, 0);
});

test("only boxes inside the canvas count as on screen", () => {
  const view = { scale: 1, tx: 0, ty: 0 };
  assert.ok(onScreen(view, { x: 10, y: 10, w: 50, h: 20 }, 100, 100));
  assert.ok(onScreen(view, { x: -40, y: 10, w: 50, h: 20 }, 100, 100)); // partly in
  assert.ok(!onScreen(view, { x: 120, y: 10, w: 50, h: 20 }, 100, 100));
  assert.ok(!onScreen(view, { x: 10, y: -30, w: 50, h: 20 }, 100, 100));
});

test("a node whose title takes two lines is a line taller, and stays clear of the next row", () => {
  const nodes = fitLayers([{ id: 0, kind: "output", x: 0, y: 0 }, { id: 1, kind: "op", x: 0, y: 70 }],
                          (n) => ({ w: 500, tall: n.id === 0 }));
  assert.equal(nodes[0].tall, true);
  assert.equal(nodes[1].tall, undefined);
  assert.equal(nodes[0].w, MAX_NODE_WIDTH);
  assert.equal(nodeBox(nodes[0]).h, nodeBox({ kind: "output", x: 0, y: 0 }).h + 14);
  assert.deepEqual(overlaps(nodes), []);
});
