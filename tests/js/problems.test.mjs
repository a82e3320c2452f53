import { test } from "node:test";
import assert from "node:assert/strict";
import { problemItems } from "../../static/js/problems.js";

const doc = {
  error: { type: "RuntimeError", code: "graph_freed", message: "Trying to backward twice", line: 5,
           cause_line: 4 },
  variables: [{ name: "x", node: 3 }, { name: "y", node: null }],
  diagnostics: [
    { variable: "x", code: "detached", line: 4, severity: "warning", message: "cut", fix: "use x" },
    { variable: "y", code: "non_leaf", line: 3, severity: "info", message: "not a leaf",
      fix: "retain_grad" },
  ],
};

test("the error names its cause line; warnings and notes keep their fixes apart", () => {
  const { error, warnings, notes } = problemItems(doc);
  assert.equal(error.text, "RuntimeError [graph_freed]: Trying to backward twice (the cause: line 4)");
  assert.deepEqual([error.line, error.causeLine], [5, 4]);
  assert.deepEqual(warnings, [{ line: 4, causeLine: 4, text: "x: [detached] cut", fix: "use x",
                                node: 3, variable: "x" }]);
  assert.deepEqual(notes.map((n) => [n.text, n.fix, n.node]),
                   [["y: [non_leaf] not a leaf", "retain_grad", null]]);
});

test("an error whose cause is its own line says nothing more", () => {
  const { error } = problemItems({ ...doc, error: { ...doc.error, cause_line: 5 }, diagnostics: [] });
  assert.equal(error.text, "RuntimeError [graph_freed]: Trying to backward twice");
});

test("expected states are told once a kind, apart from the notes, with their lines", () => {
  const cleared = (name) => ({ variable: name, code: "grad_cleared", line: 9, severity: "info",
                               message: "zero_grad cleared it", fix: "read first", expected: true });
  const { warnings, notes, expected } = problemItems({
    error: null, variables: [],
    diagnostics: [cleared("net.0.weight"), cleared("net.0.bias"),
                  { variable: "x", code: "requires_grad_false", line: 2, severity: "info",
                    message: "", fix: "", expected: true },
                  { variable: "y", code: "requires_grad_false", line: 3, severity: "info",
                    message: "", fix: "", expected: true },
                  { variable: "pred", code: "non_differentiable", line: 5, severity: "info",
                    message: "made through argmax", fix: "use values" }],
  });
  assert.deepEqual(warnings, []);
  assert.deepEqual(notes.map((n) => n.variable), ["pred"]);
  assert.deepEqual(expected.map((e) => [e.text, e.causeLine]), [
    ["net.0.weight, net.0.bias (line 9): cleared by zero_grad, as a training step does", 9],
    ["x (line 2), y (line 3): need no gradient: inputs, targets and constants", null],
  ]);
});

test("diagnoses that say the same of several variables are one item naming them all", () => {
  const cut = (name) => ({ variable: name, code: "non_differentiable", line: 8,
                           severity: "warning", message: `No backward pass reached ${name}: argmax`,
                           fix: "use values" });
  const { warnings } = problemItems({ error: null, variables: [],
                                      diagnostics: [cut("m.weight"), cut("m.bias")] });
  assert.deepEqual(warnings.map((w) => [w.text, w.line, w.variable]), [
    ["m.weight, m.bias: [non_differentiable] No backward pass reached each of them: argmax", 8,
     "m.weight"],
  ]);
});

test("a one-letter name is grouped and said as a whole word, not as a letter inside others", () => {
  const cut = (name) => ({ variable: name, code: "detached", line: 6, severity: "warning",
                           message: `No backward pass reached ${name}: the path is cut`,
                           fix: `use ${name} itself` });
  const { warnings } = problemItems({ error: null, variables: [],
                                      diagnostics: [cut("a"), cut("b")] });
  assert.deepEqual(warnings.map((w) => [w.text, w.fix]), [
    ["a, b: [detached] No backward pass reached each of them: the path is cut",
     "use each of them itself"],
  ]);
});
