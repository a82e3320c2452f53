import { test } from "node:test";
import assert from "node:assert/strict";
import { buildTimeline, livePosition, passOfFrame } from "../../static/js/timeline.js";

// Two kept passes of a loop: steps 0-1 lead to pass 0, steps 5-6 to pass 7 (the ones between
// were dropped with their passes), step 8 comes after the last pass.
const doc = {
  steps: [0, 1, 5, 6, 8].map((index) => ({ index, line: 1, nodes: [] })),
  passes: [{ index: 0, after_step: 1, line: 2, steps: [{ order: 0, node: 1 }] },
           { index: 7, after_step: 6, line: 2, steps: [{ order: 0, node: 1 }] }],
};

test("every frame belongs to the pass it leads up to or is part of", () => {
  const frames = buildTimeline(doc);
  assert.deepEqual(frames.map((f) => passOfFrame(doc, f)), [0, 0, 0, 0, 7, 7, 7, 7, 7]);
  assert.deepEqual(frames.map((f) => f.kind), ["forward", "forward", "pass", "backward",
    "forward", "forward", "pass", "backward", "forward"]);
});

test("a run without passes has no pass to show", () => {
  const none = { steps: doc.steps, passes: [] };
  assert.equal(passOfFrame(none, buildTimeline(none)[0]), null);
  assert.equal(passOfFrame(doc, undefined), null);
});

test("while a run goes, the page shows the end of its first pass, or its last frame before one", () => {
  const frames = buildTimeline(doc);
  assert.equal(livePosition(frames), 3); // pass 0's last backward frame
  assert.equal(livePosition(frames.slice(0, 3)), 1); // its header only, so far: the step before
  assert.equal(livePosition(frames.slice(0, 2)), 1); // forward steps only: the last of them
  assert.equal(livePosition([]), 0);
});
