import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { between, compactValue, nodeDevice, nodeFace, sceneAt, shortValue } from "../../static/js/scene.js";
import { buildTimeline } from "../../static/js/timeline.js";

const fixture = JSON.parse(readFileSync(process.env.GRADTRACE_EVENTS_FIXTURE, "utf8"));

test("stepping to the end of the wx+b example shows the seed gradients", () => {
  const { document } = fixture.find((f) => f.name === "wx_plus_b_loss.py");
  const frames = buildTimeline(document);
  const end = sceneAt(document, frames, frames.length - 1);
  const byLabel = new Map(document.graph.nodes.map((n) => [n.id, n.label]));
  const grads = Object.fromEntries([...end.leafGrads].map(([id, g]) => [byLabel.get(id),
                                                                        shortValue(g)]));
  assert.deepEqual(grads, { x: "5", w: "10", b: "5" });
  const first = sceneAt(document, frames, 0);
  assert.equal(first.phase, "forward");
  assert.equal(first.leafGrads.size, 0);
  assert.ok(end.atEnd && !first.atEnd);
});

test("a pass shows the graph it runs on, not nodes made after it", () => {
  const { document } = fixture.find((f) => f.name === "accumulate_two_outputs.py");
  const frames = buildTimeline(document);
  const firstPass = frames.findIndex((f) => f.kind === "pass");
  const scene = sceneAt(document, frames, firstPass);
  const labels = [...scene.visible].map((id) => document.graph.nodes.find((n) => n.id === id).label);
  assert.deepEqual(labels.sort(), ["x", "y1"]);
});

test("short values", () => {
  assert.equal(shortValue({ values: [2.5], shape: [], dtype: "float32" }), "2.5");
  assert.equal(shortValue({ values: [1, 2], shape: [2], dtype: "int64" }), "[1, 2]");
  assert.equal(shortValue({ shape: [3, 4], dtype: "float32" }), "float32[3×4]");
  assert.equal(shortValue(null), "—");
});

test("a node's face: leaves show their value, then their .grad as it accumulates", () => {
  const { document } = fixture.find((f) => f.name === "wx_plus_b_loss.py");
  const frames = buildTimeline(document);
  const w = document.graph.nodes.find((n) => n.label === "w");
  assert.deepEqual(nodeFace(w, null), { title: "w", detail: "1", glyph: w.values[0] });
  const at = frames.findIndex((f) => f.kind === "backward" && f.node === w.id);
  assert.equal(nodeFace(w, sceneAt(document, frames, at)).detail, "grad None → 10");
  assert.equal(nodeFace(w, sceneAt(document, frames, frames.length - 1)).detail, "grad 10");
  const loss = document.graph.nodes.find((n) => n.label === "loss");
  assert.deepEqual(nodeFace(loss, null).title, "loss = 6.25");
  assert.deepEqual(nodeFace(loss, null).detail, "pow · PowBackward0");
});

test("a big value is named by its shape; its glyph shows the rest", () => {
  const big = { shape: [3, 2], values: [1, 2, 3, 4, 5, 6] };
  assert.equal(compactValue(big), "3×2");
  assert.equal(compactValue({ shape: [2], values: [1, 2] }), "[1, 2]");
  assert.equal(compactValue({ shape: [2000], dtype: "float32" }), "2000 values"); // not "= 2000"
  assert.equal(compactValue(null), "—");
});

test("while playing, an accumulating scalar .grad counts from before to after", () => {
  const { document } = fixture.find((f) => f.name === "wx_plus_b_loss.py");
  const frames = buildTimeline(document);
  const w = document.graph.nodes.find((n) => n.label === "w");
  const scene = sceneAt(document, frames, frames.findIndex((f) => f.node === w.id));
  assert.equal(nodeFace(w, scene, 0).detail, "grad 0");
  assert.equal(nodeFace(w, scene, 0.5).detail, "grad 5");
  assert.equal(nodeFace(w, scene, 1).detail, "grad None → 10");
  const s = (v) => ({ shape: [], values: [v] });
  assert.equal(between(s(4), s(8), 1), 8);
  assert.equal(between(s(4), s(8), 0), 4);
  assert.equal(between(null, { shape: [2], values: [1, 2] }, 0.5), null); // a tensor: no count
});

test("a node names its device unless it is the cpu", () => {
  const on = (device) => ({ id: 1, kind: "op", values: [null, { device, shape: [2] }] });
  assert.equal(nodeDevice(on("cuda:0")), "cuda:0");
  assert.equal(nodeDevice(on("cpu")), null);
  assert.equal(nodeDevice({ id: 2, kind: "leaf" }), null);
});
