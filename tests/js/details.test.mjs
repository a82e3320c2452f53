import { test } from "node:test";
import assert from "node:assert/strict";
import { wholeSaved, wholeSummary } from "../../static/js/details.js";

const kept = { shape: [32], norm: 3, min: 0, max: 1, kept: 7, preview: "0f".repeat(16) };
const whole = { shape: [32], norm: 3, min: 0, max: 1, values: new Array(32).fill(0.5) };

test("a kept summary is asked for once by its id, and the reply replaces it", () => {
  const wanted = new Map();
  assert.equal(wholeSummary(new Map(), kept, wanted), kept);
  assert.deepEqual([...wanted], [["summary:7", { summary: 7 }]]);
  const details = new Map([["summary:7", { summary: 7, value: whole }]]);
  const again = new Map();
  assert.equal(wholeSummary(details, kept, again), whole);
  assert.equal(again.size, 0);
});

test("an error reply, or one on its way, leaves the statistics and asks no more", () => {
  const details = new Map([["summary:7", { error: "asking the server" }]]);
  const wanted = new Map();
  assert.equal(wholeSummary(details, kept, wanted), kept);
  assert.equal(wanted.size, 0);
});

test("what the stream carried whole is never asked for", () => {
  const wanted = new Map();
  for (const summary of [whole, null, undefined, { shape: [], values: [2] }]) {
    assert.equal(wholeSummary(new Map(), summary, wanted), summary);
  }
  const node = { id: 3, saved: [{ name: "self", value: 2 }] };
  assert.equal(wholeSaved(new Map(), node, wanted), node);
  assert.equal(wanted.size, 0);
});

test("a node whose saved entries were kept is asked for by id", () => {
  const node = { id: 7, saved: [{ name: "self", kept: true }] };
  const wanted = new Map();
  assert.equal(wholeSaved(new Map(), node, wanted), node);
  assert.deepEqual([...wanted], [["node:7", { node: 7 }]]);
  const saved = [{ name: "self", value: { shape: [2], values: [1, 2] } }];
  const details = new Map([["node:7", { node: 7, saved }]]);
  assert.deepEqual(wholeSaved(details, node, new Map()), { ...node, saved });
});
