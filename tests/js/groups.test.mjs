import { test } from "node:test";
import assert from "node:assert/strict";
import { aggregateNorm, anyOf, collapsedPaths, groupFace, groupsAround, viewGraph }
  from "../../static/js/groups.js";

// x (0) -> net.0's weight (1) and linear (2) -> net.1's relu (3) -> loss (4), net.0 collapsed.
const value = (shape) => [{ shape }];
const graph = {
  nodes: [
    { id: 0, kind: "leaf", label: "x", values: value([2, 3]) },
    { id: 1, kind: "leaf", label: "net.0.weight", values: value([4, 3]) },
    { id: 2, kind: "op", label: "net.0 · Linear", values: value([2, 4]) },
    { id: 3, kind: "op", label: "net.1 · ReLU", values: value([2, 4]) },
    { id: 4, kind: "output", label: "loss", values: value([]) },
  ],
  edges: [{ src: 0, dst: 2, slot: 1, output_nr: 0 }, { src: 1, dst: 2, slot: 0, output_nr: 0 },
          { src: 2, dst: 3, slot: 0, output_nr: 0 }, { src: 3, dst: 4, slot: 0, output_nr: 0 }],
};
const reply = {
  nodes: 5, ids: [0, 1, 2, 3, 4], layer: [0, 1, 1, 2, 3], row: [0, 0, 0, 0, 0],
  group: [-1, 1, 1, 2, -1],
  groups: [["net", -1, "module", "Sequential", false, 0],
           ["net.0", 0, "module", "Linear", true, 0],
           ["net.1", 0, "module", "ReLU", false, 0]],
};

test("a collapsed group is one box, and the edges that crossed its border end at it", () => {
  const view = viewGraph(graph, reply);
  assert.deepEqual(view.nodes.map((n) => n.id), [0, "group:net.0", 3, 4]);
  const box = view.nodes[1];
  assert.deepEqual([box.kind, box.members, box.leaves, box.chain], ["group", [1, 2], [1], ["net"]]);
  assert.deepEqual([box.inShape, box.outShape], [[2, 3], [2, 4]]);
  assert.deepEqual(view.edges.map((e) => [e.src, e.dst, e.key]),
                   [[0, "group:net.0", "2:1"], ["group:net.0", 3, "3:0"], [3, 4, "4:0"]]);
  assert.deepEqual(view.nodes[2].chain, ["net", "net.1"]);
  assert.equal(view.nodes[2].y, 0);
  assert.equal(box.y, 35); // two rows tall: centred between them
});

test("without a reply for this graph, every node shows, framed by its module path", () => {
  const view = viewGraph({ ...graph, nodes: graph.nodes.map((n) => ({ ...n, module: "a.b" })) },
                         { ...reply, nodes: 9 });
  assert.equal(view.nodes.length, 5);
  assert.deepEqual(view.nodes[0].chain, ["a", "a.b"]);
});

test("a box's face: name, class, shapes, and the norm of its parameters' gradients", () => {
  const box = viewGraph(graph, reply).nodes[1];
  const scene = { leafGrads: new Map([[1, { norm: 3 }]]), edgeGrads: new Map() };
  assert.deepEqual(groupFace(box, null),
                   { title: "net.0", short: "net.0", kind: "Linear", detail: "2×3 → 2×4",
                     grad: "" });
  assert.equal(groupFace(box, scene).grad, "‖∇‖ 3");
  // no parameters inside: the gradients it sent to its inputs
  const noParams = { ...box, leaves: [] };
  const sent = { leafGrads: new Map(), edgeGrads: new Map([["2:1", { norm: 3 }], ["2:0", { norm: 4 }]]) };
  assert.equal(aggregateNorm({ ...noParams, entries: ["2:1", "2:0"] }, sent), 5);
  assert.equal(aggregateNorm(noParams, { leafGrads: new Map(), edgeGrads: new Map() }), null);
});

test("a box shows and runs when any node inside it does", () => {
  const box = viewGraph(graph, reply).nodes[1];
  assert.equal(anyOf(new Set([2]), box), true);
  assert.equal(anyOf(new Set([3]), box), false);
  assert.equal(anyOf(new Set([3]), { id: 3 }), true);
});

test("the groups around a node, and the collapsed ones that show", () => {
  assert.deepEqual(groupsAround(reply, 2), ["net", "net.0"]);
  assert.deepEqual(groupsAround(reply, 0), []);
  const nested = { ...reply, groups: [...reply.groups, ["net.0.inner", 1, "module", "X", true, 0]] };
  assert.deepEqual(collapsedPaths(nested), ["net.0"]);
});
