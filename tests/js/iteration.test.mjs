import { test } from "node:test";
import assert from "node:assert/strict";
import { iterationGraph, iterations } from "../../static/js/iteration.js";

// Two iterations of w * x -> loss, sharing the leaf w (node 0): steps 0-1 lead to pass 0,
// steps 2-3 to pass 1.
const doc = {
  steps: [{ index: 0, nodes: [0, 1] }, { index: 1, nodes: [2] },
          { index: 2, nodes: [3] }, { index: 3, nodes: [4] }],
  passes: [{ index: 1, after_step: 3, steps: [{ node: 4 }, { node: 3 }, { node: 0 }] },
           { index: 0, after_step: 1, steps: [{ node: 2 }, { node: 1 }, { node: 0 }] }],
};
const graph = {
  nodes: [0, 1, 2, 3, 4].map((id) => ({ id, x: id * 10, y: id * 70 })),
  edges: [{ src: 0, dst: 1 }, { src: 1, dst: 2 }, { src: 0, dst: 3 }, { src: 3, dst: 4 }],
};
const sorted = (set) => [...set].sort();

test("each pass's iteration: the nodes its steps made, and those it ran", () => {
  const found = iterations(doc);
  assert.deepEqual(sorted(found.get(0).own), [0, 1, 2]);
  assert.deepEqual(sorted(found.get(1).own), [3, 4]);
  assert.deepEqual(sorted(found.get(1).shown), [0, 3, 4]); // the leaf iteration 0 made
  assert.equal(iterations(doc), found); // once per document
});

test("an iteration's graph brings a shared node beside its use there", () => {
  const second = iterationGraph(graph, iterations(doc).get(1));
  assert.deepEqual(second.nodes.map((n) => n.id), [0, 3, 4]);
  assert.equal(second.nodes[0].y, 210); // at the height of what it feeds here
  assert.deepEqual(second.edges, [{ src: 0, dst: 3 }, { src: 3, dst: 4 }]);
  assert.equal(graph.nodes[0].y, 0); // the whole graph is left as it was
  const first = iterationGraph(graph, iterations(doc).get(0));
  assert.deepEqual(first.nodes, graph.nodes.slice(0, 3)); // its own leaf stays where it was
});

test("a shared node never lands on a node already there", () => {
  const crowded = { nodes: [{ id: 0, x: 0, y: 0 }, { id: 3, x: 0, y: 210 }, { id: 4, x: 10, y: 210 }],
                    edges: [{ src: 0, dst: 4 }, { src: 3, dst: 4 }] };
  const shown = iterationGraph(crowded, { own: new Set([3, 4]), shown: new Set([3, 4]) });
  assert.deepEqual(shown.nodes.map((n) => [n.id, n.x, n.y]), [[0, 0, 280], [3, 0, 210], [4, 10, 210]]);
});

test("a pass over a graph an earlier pass ran (retain_graph) shows it as it was laid out", () => {
  const twice = {
    steps: [{ index: 0, nodes: [0, 1] }, { index: 1, nodes: [2] }],
    passes: [{ index: 0, after_step: 1, steps: [{ node: 2 }, { node: 1 }, { node: 0 }] },
             { index: 1, after_step: 1, steps: [{ node: 2 }, { node: 1 }, { node: 0 }] }],
  };
  const second = iterations(twice).get(1);
  assert.equal(second.own.size, 0);
  assert.deepEqual(iterationGraph(graph, second).nodes, graph.nodes.slice(0, 3));
});
