import { test } from "node:test";
import assert from "node:assert/strict";

import { splitTitle, wrappedWidth } from "../../static/js/wrap.js";

const measure = (text) => text.length * 10; // a monospaced stand-in: 10 px a character

test("a title that fits stays one line", () => {
  assert.deepEqual(splitTitle(measure, "loss = 0.31", 200), ["loss = 0.31"]);
});

test("label = value breaks before its sign, so the value stays whole beside it", () => {
  const title = "model.blocks[1].attn(x) = 4×2×32";
  const lines = splitTitle(measure, title, 240);
  assert.deepEqual(lines, ["model.blocks[1].attn(x) ", "= 4×2×32"]);
  assert.equal(lines.join(""), title); // the slices are the title
});

test("a name breaks at a dot or bracket so that the longer line is shortest", () => {
  const title = "model.blocks[1].attn.c_attn.weight";
  const lines = splitTitle(measure, title, 200);
  assert.equal(lines.join(""), title);
  assert.deepEqual(lines, ["model.blocks[1]", ".attn.c_attn.weight"]);
  assert.equal(wrappedWidth(measure, title, 200), 190);
});

test("a name with no break is cut where the first line is full", () => {
  assert.deepEqual(splitTitle(measure, "abcdefghijklmnop", 100), ["abcdefghij", "klmnop"]);
});

test("the second line may still be too long: the caller shortens it, not the first", () => {
  const lines = splitTitle(measure, "short " + "x".repeat(40), 100);
  assert.equal(lines[0], "short ");
  assert.ok(measure(lines[1]) > 100);
});

test("a snake_case name breaks after an underscore, not inside a word", () => {
  assert.deepEqual(splitTitle(measure, "token_embeddings_after_layer_norm", 250),
                   ["token_embeddings_", "after_layer_norm"]);
});

test("a break between words wins over a slightly more even one inside a name", () => {
  // at the dot: 15 and 8 characters; after "+ ": 6 and 16
  assert.deepEqual(splitTitle(measure, "aaaa + bbbbbbbb.ccccccc", 200),
                   ["aaaa + ", "bbbbbbbb.ccccccc"]);
});
