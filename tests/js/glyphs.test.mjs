import { test } from "node:test";
import assert from "node:assert/strict";
import {
  cellColor, finiteRange, glyphKind, glyphValues, heatGrid, histogramBars,
} from "../../static/js/glyphs.js";

const summary = (shape, values, extra = {}) => ({ shape, dtype: "float32", values, ...extra });

test("a tensor gets a heatmap, a sparkline, a histogram, or its text alone", () => {
  assert.equal(glyphKind(summary([], [2])), null);
  assert.equal(glyphKind(summary([3], [1, 2, 3])), null); // few enough to read
  assert.equal(glyphKind(summary([6], [1, 2, 3, 4, 5, 6])), "sparkline");
  assert.equal(glyphKind(summary([2, 3], [1, 2, 3, 4, 5, 6])), "heatmap");
  assert.equal(glyphKind({ shape: [100, 100], hist: [1, 2] }), "histogram");
  assert.equal(glyphKind({ shape: [100, 100] }), null); // no values and no histogram
  assert.equal(glyphKind(null), null);
});

test("a summary whose values the server kept draws its glyph from its preview", () => {
  const kept = { shape: [2, 3], min: -1, max: 3, kept: 4, preview: "0f8x04" };
  assert.equal(glyphKind(kept), "heatmap");
  assert.equal(glyphKind({ ...kept, shape: [6] }), "sparkline");
  assert.equal(glyphKind({ ...kept, preview: "0f8" }), null); // few: its text says it
  assert.equal(glyphKind({ shape: [6], kept: 4 }), null); // too many values for a preview
  const values = glyphValues(kept);
  assert.deepEqual(values.filter(Number.isFinite), [-0.875, 2.875, 1.125, -0.875, 0.125]);
  assert.ok(Number.isNaN(values[3]));
  assert.equal(heatGrid(kept).rows, 2);
});

test("a heatmap lays the last dimension across", () => {
  assert.deepEqual(heatGrid(summary([2, 3], [1, 2, 3, 4, 5, 6])), {
    rows: 2, cols: 3, values: [1, 2, 3, 4, 5, 6] });
  const grid = heatGrid(summary([2, 2, 2], ["nan", "inf", "-inf", 0, 1, 2, 3, 4]));
  assert.equal(grid.rows, 4);
  assert.ok(Number.isNaN(grid.values[0]) && grid.values[1] === Infinity);
  assert.deepEqual(finiteRange(grid.values), [0, 4]);
  assert.deepEqual(finiteRange([NaN]), [0, 0]);
});

test("colours diverge around zero and NaN/Inf stand apart", () => {
  assert.equal(cellColor(NaN, -1, 1), "#cc79a7");
  assert.equal(cellColor(Infinity, -1, 1, "bad"), "bad");
  const blue = cellColor(-1, -1, 1);
  const orange = cellColor(1, -1, 1);
  assert.equal(blue, "rgb(0, 114, 178)");
  assert.equal(orange, "rgb(230, 159, 0)");
  assert.notEqual(cellColor(0.1, -1, 1), orange); // paler near zero
  assert.equal(cellColor(0, 0, 0), cellColor(0, -1, 1)); // a zero range does not divide by zero
});

test("histogram bars are relative to the tallest, on a square-root scale", () => {
  assert.deepEqual(histogramBars([0, 1, 4]), [0, 0.5, 1]);
  assert.deepEqual(histogramBars([0, 0]), [0, 0]);
});
