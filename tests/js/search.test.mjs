import { test } from "node:test";
import assert from "node:assert/strict";
import { searchHits } from "../../static/js/search.js";
import { centreOn } from "../../static/js/view.js";

const nodes = [
  { id: 0, label: "net.0.weight", name: "AccumulateGrad", op: null, module: "net.0" },
  { id: 1, label: "net.0 · Linear", name: "AddmmBackward0", op: "linear", module: "net.0" },
  { id: 2, label: "net.2 · Linear", name: "AddmmBackward0", op: "linear", module: "net.2" },
  { id: 3, label: "loss", name: "MseLossBackward0", op: "mse_loss", module: null },
];

test("search finds nodes by label, autograd name, op or module, best match first", () => {
  assert.deepEqual(searchHits(nodes, [], "mse_loss"), [3]);
  assert.deepEqual(searchHits(nodes, [], "LINEAR"), [1, 2]); // any case; ties in graph order
  assert.deepEqual(searchHits(nodes, [], "net.2"), [2]);
  assert.deepEqual(searchHits(nodes, [], "loss"), [3]);
  assert.deepEqual(searchHits(nodes, [], "addmm"), [1, 2]);
  assert.deepEqual(searchHits(nodes, [], "  "), []);
  assert.deepEqual(searchHits(nodes, [], "conv"), []);
});

test("a whole match beats a word's start, which beats a match inside a word", () => {
  const named = [{ id: 7, label: "xloss" }, { id: 8, label: "total loss" }, { id: 9, label: "loss" }];
  assert.deepEqual(searchHits(named, [], "loss"), [9, 8, 7]);
});

test("a variable's name finds its node; a variable with no node drawn finds nothing", () => {
  const variables = [{ name: "hidden", node: 1 }, { name: "data", node: null }];
  assert.deepEqual(searchHits(nodes, variables, "hidden"), [1]);
  assert.deepEqual(searchHits(nodes, variables, "data"), []);
});

test("centring puts the node in the middle, zoomed in far enough to read", () => {
  const view = centreOn({ scale: 0.2, tx: 0, ty: 0 }, { x: 100, y: 50 }, 800, 600);
  assert.deepEqual(view, { scale: 1, tx: 300, ty: 250 });
  assert.equal(centreOn({ scale: 2, tx: 0, ty: 0 }, { x: 0, y: 0 }, 800, 600).scale, 2);
});
