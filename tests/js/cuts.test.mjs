import { test } from "node:test";
import assert from "node:assert/strict";
import { cutBoxes, cutMarks, placeCuts } from "../../static/js/cuts.js";
import { nodeBox } from "../../static/js/view.js";

const DOC = {
  variables: [{ name: "w", tensor: 9, is_leaf: true, requires_grad: true }],
  steps: [
    { index: 0, kind: "cut", cut: "tensor", line: 2, span: "torch.tensor(2.0)", values: [] },
    { index: 1, kind: "op", op: "mul", line: 3, values: [] },
    { index: 2, kind: "cut", cut: "detach", cut_node: 0, line: 4, span: "y.detach()",
      values: [{ values: [6], shape: [] }] },
    { index: 3, kind: "cut", cut: "item", cut_node: 7, line: 5, span: "y.item()", values: [] },
    { index: 4, kind: "cut", cut: "item", line: 6, span: "x.item()", values: [] },
    { index: 5, kind: "op", op: "mul", cut: "no_grad", cut_line: 7, inputs: [9], line: 8,
      span: "w * 10", values: [{ values: [40], shape: [] }] },
    { index: 6, kind: "op", op: "mul", cut: "no_grad", cut_line: 7, inputs: [9], line: 9,
      span: "w * 20", values: [{ values: [80], shape: [] }] },
    { index: 7, kind: "cut", cut: "item", cut_node: 0, line: 10, span: "y.item()", values: [],
      python_value: 6 },
  ] };

test("a cut is marked where its value came from: a drawn node, or a leaf in no graph", () => {
  const marks = cutMarks(DOC, new Map([[0, {}]]));
  assert.deepEqual(marks.map((m) => [m.node, m.leaf, m.op, m.line, m.step]), [
    [0, null, "detach", 4, 2], // node 7 is not drawn, x.item() has no node nor named leaf
    [null, "w", "no_grad", 7, 5], // at the no_grad line; the block's second op is the same cut
    [0, null, "item", 10, 7],
  ]);
  assert.deepEqual(marks[2].value, { values: [6], shape: [] }); // the number .item() gave
});

test("the tensors that left sit in one row below the graph, overlapping nothing", () => {
  const nodes = [{ id: 0, kind: "op", x: 300, y: 0, w: 128 }, { id: 1, kind: "op", x: 300,
    y: 70, w: 128 }, { id: 2, kind: "leaf", x: 100, y: 35, w: 112 }];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const marks = [{ node: 0, op: "detach" }, { node: 1, op: "item" }, { node: null, leaf: "w" }];
  const placed = placeCuts(marks, nodes, byId);
  const boxes = [...nodes, ...cutBoxes(placed)].map(nodeBox);
  for (const [i, a] of boxes.entries()) {
    for (const b of boxes.slice(i + 1)) {
      const apart = a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;
      assert.ok(apart, JSON.stringify([a, b]));
    }
  }
  const bottom = Math.max(...nodes.map((n) => nodeBox(n).y + nodeBox(n).h));
  assert.ok(placed.every((p) => nodeBox(p.box).y > bottom));
  const [leaf, first, second] = placed;
  assert.equal(leaf.from.label, "w"); // the leaf in no graph gets its own box, first
  assert.notEqual(first.route[1][0], second.route[1][0]); // one layer, two lanes
  assert.deepEqual(first.route[0], [364, 0]); // from the node's right edge
});

test("a parameter in no graph is marked for the snippet's no_grad, not for torch's own .data", () => {
  const doc = {
    variables: [{ name: "net.weight", tensor: 3, is_leaf: true, requires_grad: true, node: null }],
    steps: [
      { index: 0, kind: "cut", cut: "data", inputs: [3], line: 4, values: [] }, // a deepcopy
      { index: 1, kind: "op", cut: "no_grad", cut_line: 6, inputs: [3], line: 7, values: [] },
    ] };
  assert.deepEqual(cutMarks(doc, new Map()).map((m) => [m.leaf, m.op, m.line]),
                   [["net.weight", "no_grad", 6]]);
});
