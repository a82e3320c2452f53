import { test } from "node:test";
import assert from "node:assert/strict";
import { foldGraph, isPlumbing } from "../../static/js/fold.js";

test("views and transposes fold away, their inputs wired to their consumers", () => {
  const graph = {
    nodes: [
      { id: 0, kind: "leaf", name: "AccumulateGrad" },
      { id: 1, kind: "op", name: "TBackward0" },
      { id: 2, kind: "op", name: "ViewBackward0" },
      { id: 3, kind: "op", name: "MmBackward0" },
      { id: 4, kind: "leaf", name: "AccumulateGrad" },
    ],
    edges: [
      { src: 0, dst: 1, slot: 0, output_nr: 0 },
      { src: 1, dst: 2, slot: 0, output_nr: 0 },
      { src: 2, dst: 3, slot: 1, output_nr: 0 },
      { src: 4, dst: 3, slot: 0, output_nr: 0 },
    ],
  };
  const folded = foldGraph(graph);
  assert.deepEqual(folded.nodes.map((n) => n.id), [0, 3, 4]);
  assert.deepEqual(folded.edges.map((e) => [e.src, e.dst, e.slot]).sort(), [[0, 3, 1], [4, 3, 0]]);
  assert.ok(isPlumbing({ kind: "op", name: "ExpandBackward0" }));
  assert.ok(!isPlumbing({ kind: "op", name: "SelectBackward0" }));
  assert.equal(foldGraph({ nodes: [graph.nodes[3]], edges: [] }).nodes.length, 1);
});

test("a copy that explains a None gradient stays in the teaching view", () => {
  const graph = {
    nodes: [{ id: 0, kind: "leaf", name: "AccumulateGrad" },
            { id: 1, kind: "op", name: "ToCopyBackward0" },
            { id: 2, kind: "op", name: "MulBackward0" }],
    edges: [{ src: 0, dst: 1, slot: 0, output_nr: 0 }, { src: 1, dst: 2, slot: 0, output_nr: 0 }],
  };
  assert.deepEqual(foldGraph(graph).nodes.map((n) => n.id), [0, 2]);
  assert.deepEqual(foldGraph(graph, new Set([1])).nodes.map((n) => n.id), [0, 1, 2]);
});
