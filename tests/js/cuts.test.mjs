import { test } from "node:test";
import assert from "node:assert/strict";
import { cutMarks } from "../../static/js/cuts.js";

test("a cut is marked at the node its value came from, unless that node is not drawn", () => {
  const doc = { steps: [
    { kind: "cut", cut: "tensor", line: 2, span: "torch.tensor(2.0)" },
    { kind: "op", op: "mul", line: 3 },
    { kind: "cut", cut: "detach", cut_node: 0, line: 4, span: "y.detach()" },
    { kind: "cut", cut: "item", cut_node: 7, line: 5, span: "y.item()" },
    { kind: "cut", cut: "item", line: 6, span: "x.item()" },
  ] };
  assert.deepEqual(cutMarks(doc, new Map([[0, {}]])),
                   [{ node: 0, op: "detach", line: 4, span: "y.detach()" }]);
});
