import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { goesDown, orient, stackLayers } from "../../static/js/orient.js";
import { fitLayers, nodeBox, overlaps, READABLE_SCALE, wholeScale } from "../../static/js/view.js";

const op = (id, layer, row, extra = {}) => ({ id, kind: "op", x: layer * 160, y: row * 70, ...extra });

test("top to bottom: layers go down the page and rows across, in the same order", () => {
  const nodes = [op(0, 0, 0), op(1, 1, 0), op(2, 1, 1), op(3, 2, 0)];
  const down = stackLayers(nodes);
  const [a, b, c, d] = down;
  assert.ok(a.y < b.y && b.y === c.y && c.y < d.y); // a layer is a row of the page
  assert.ok(a.x === b.x && b.x === d.x && c.x > b.x); // a row is a column
  assert.deepEqual(overlaps(down), []);
  for (const n of down) { assert.ok(n.lane > n.x + nodeBox(n).w / 2); } // the gap right of it
});

test("a collapsed group's box takes two columns, and its frame's name has room above", () => {
  const box = { id: "group:net.0", kind: "group", members: [5], x: 160, y: 35, w: 176,
                chain: ["net"] };
  const nodes = [op(0, 0, 0, { chain: [] }), box, op(1, 1, 2, { chain: ["net"] }),
                 op(2, 2, 0, { chain: [] })];
  const down = stackLayers(nodes);
  assert.deepEqual(overlaps(down), []);
  const [first, group, beside] = down;
  // the frame of "net" opens at layer 1: its band (26 + 18 for the box inside) lies between
  // layer 0's bottom and the box's top
  const gap = nodeBox(group).y - (nodeBox(first).y + nodeBox(first).h);
  assert.ok(gap >= 26 + 18, `${gap}`);
  assert.ok(nodeBox(beside).x >= nodeBox(group).x + nodeBox(group).w); // the next row's column
});

test("real traces turned top to bottom never overlap", () => {
  const fixture = JSON.parse(readFileSync(process.env.GRADTRACE_EVENTS_FIXTURE, "utf8"));
  for (const { name, document } of fixture) {
    const sized = fitLayers(document.graph.nodes, (n) => ({ w: n.label.length * 9 + 20 }));
    assert.deepEqual(overlaps(stackLayers(sized)), [], name);
  }
});

test("auto: across when it reads whole, else turned when that shows it bigger", () => {
  const chain = [0, 1, 2, 3, 4, 5, 6].map((i) => op(i, i, 0));
  // a wide pane: the short chain reads whole across
  assert.equal(orient("auto", chain.slice(0, 4), 880, 500).down, false);
  // seven layers across 880 px do not read; down a tall pane they do better
  const tall = orient("auto", chain, 380, 900);
  assert.equal(tall.down, true);
  assert.ok(wholeScale(tall.nodes, 380, 900) > wholeScale(chain, 380, 900));
  // a wide pane that cannot read the chain either way keeps the way that shows it bigger
  const wide = orient("auto", chain, 880, 200);
  assert.equal(wide.down, wholeScale(stackLayers(chain), 880, 200) > wholeScale(chain, 880, 200));
  assert.ok(wholeScale(chain, 880, 200) < READABLE_SCALE);
  // asked for, either way
  assert.equal(orient("down", chain.slice(0, 2), 880, 500).down, true);
  assert.equal(orient("across", chain, 380, 900).down, false);
  assert.equal(goesDown("auto", 380, 900), true);
  assert.equal(goesDown("auto", 900, 380), false);
  assert.equal(goesDown("down", 900, 380), true);
});
