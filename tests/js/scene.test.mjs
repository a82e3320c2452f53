import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { sceneAt, shortValue } from "../../static/js/scene.js";
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
