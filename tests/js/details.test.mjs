import { test } from "node:test";
import assert from "node:assert/strict";
import { detailRequest, withDetails } from "../../static/js/details.js";

const kept = { shape: [32, 32], norm: 3, kept: true };
const whole = { shape: [32, 32], norm: 3, values: new Array(1024).fill(0.5) };

test("a variable whose value or grad was kept is asked for by name", () => {
  assert.deepEqual(detailRequest(null, { name: "w", value: kept, grad: null }),
                   { key: "variable:w", request: { variable: "w" } });
  assert.deepEqual(detailRequest(null, { name: "w", value: whole, grad: kept }).request,
                   { variable: "w" });
  assert.equal(detailRequest(null, { name: "w", value: whole, grad: null }), null);
});

test("a node whose saved tensors were kept is asked for by id; nothing else is", () => {
  assert.deepEqual(detailRequest({ id: 7, saved: [{ name: "self", kept: true }] }, null),
                   { key: "node:7", request: { node: 7 } });
  assert.equal(detailRequest({ id: 7, saved: [{ name: "self", value: 2 }] }, null), null);
  assert.equal(detailRequest({ id: 7 }, null), null);
});

test("replies replace what was kept; an error reply leaves the statistics", () => {
  const variable = { name: "w", value: kept, grad: null };
  const node = { id: 7, saved: [{ name: "self", kept: true }] };
  const details = new Map([["variable:w", { variable: "w", value: whole, grad: whole }],
                           ["node:7", { error: "no saved values" }]]);
  const filled = withDetails(details, node, variable);
  assert.equal(filled.variable.value, whole);
  assert.equal(filled.variable.grad, whole);
  assert.equal(filled.node, node);
  assert.deepEqual(withDetails(new Map(), node, variable), { node, variable });
});
