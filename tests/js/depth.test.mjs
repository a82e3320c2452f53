import { test } from "node:test";
import assert from "node:assert/strict";
import { collapsedAt, groupLevels } from "../../static/js/depth.js";

// [path, parent index, kind, label, collapsed, identical], outer groups first (views.py)
const reply = { groups: [
  ["model", -1, "module", "GPT", false, 0],
  ["model.h.0", 0, "module", "Block", true, 2],
  ["model.h.0.attn", 1, "module", "Attention", true, 2],
  ["model.h.1", 0, "module", "Block", true, 2],
  ["model.h.1.attn", 3, "module", "Attention", true, 2],
  ["loop:5", -1, "fold", "loop at line 5 ×20", true, 0],
  ["loop:5.w0", 5, "fold", "iterations 0–9", true, 2],
] };

test("a group's level counts the groups around it", () => {
  assert.deepEqual(groupLevels(reply), [1, 2, 3, 2, 3, 1, 2]);
});

test("a level collapses every group of that level, and opens the ones above it", () => {
  assert.deepEqual(collapsedAt(reply, 1), ["model", "loop:5"]);
  assert.deepEqual(collapsedAt(reply, 2), ["model.h.0", "model.h.1", "loop:5.w0"]);
  assert.deepEqual(collapsedAt(reply, 3), ["model.h.0.attn", "model.h.1.attn"]);
});
