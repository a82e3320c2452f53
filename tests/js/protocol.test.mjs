// node --test tests/js: the JS rebuild gives the same document as the Python one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  DIAGNOSIS_CODES, EVENT_TYPES, graphMerged, rebuild, SCHEMA,
} from "../../static/js/protocol.js";

const fixture = JSON.parse(readFileSync(process.env.GRADTRACE_EVENTS_FIXTURE, "utf8"));

test("the names mirror protocol.py", () => {
  const names = JSON.parse(readFileSync(process.env.GRADTRACE_PROTOCOL_NAMES, "utf8"));
  assert.equal(SCHEMA, names.schema);
  assert.deepEqual([...EVENT_TYPES], names.event_types);
  assert.deepEqual([...DIAGNOSIS_CODES], names.diagnosis_codes);
});

test("rebuild matches the Python document for every example", () => {
  for (const { name, events, document } of fixture) {
    assert.deepEqual(rebuild(events), document, name);
    for (const e of events) { assert.ok(EVENT_TYPES.includes(e.type), e.type); }
  }
});

test("what the server relays, its values kept, rebuilds as in Python", () => {
  let [kept, differences] = [0, 0];
  for (const { name, relayed, relayed_document: expected } of fixture) {
    assert.deepEqual(rebuild(relayed), expected, name);
    kept += JSON.stringify(expected).split('"kept":').length - 1;
    differences += relayed.filter((e) => e.type === "graph" && e.graph.base).length;
  }
  assert.ok(kept > 20, `only ${kept} kept values in the examples`);
  assert.ok(differences > 20, `only ${differences} graphs sent as differences`);
});

test("a graph's difference that does not fit the graph before it is refused", () => {
  const before = { strings: [], nodes: { id: [0, 1], values: [[], []] }, edges: [0, 1, 0, 0] };
  const delta = (base) => ({ strings: [], nodes: { id: [2], values: [[]] }, edges: [], base });
  assert.deepEqual(graphMerged(before, delta({ nodes: 2, edges: 4, tails: ["id"] })).nodes.id,
                   [0, 1, 2]);
  for (const base of [{ nodes: 3, edges: 0, tails: [] }, { nodes: 1, edges: 2, tails: [] },
    { nodes: 1, edges: 0, tails: ["kind"] }, { nodes: 0, edges: 0, tails: ["row"] }, [], "all"]) {
    assert.throws(() => graphMerged(before, delta(base)), JSON.stringify(base));
  }
  assert.throws(() => graphMerged(null, delta({ nodes: 0, edges: 0, tails: [] })));
});

test("events applied one by one give the same document, and track the run's status", async () => {
  const { emptyRun, applyEvent, document } = await import("../../static/js/protocol.js");
  for (const { name, events, document: expected } of fixture) {
    const run = emptyRun();
    events.forEach((e) => applyEvent(run, e));
    assert.deepEqual(document(run), expected, name);
    assert.equal(run.status, "running");
  }
  const run = emptyRun();
  applyEvent(run, { type: "queued", position: 2 });
  assert.equal(run.status, "queued");
  assert.equal(run.queuePosition, 2);
  applyEvent(run, { type: "rejected", message: "no" });
  assert.equal(run.status, "queued"); // a refused second request leaves the run as it was
  applyEvent(run, { type: "done", status: "stopped", duration_ms: 5 });
  assert.deepEqual([run.status, run.durationMs, run.notices], ["stopped", 5, ["no"]]);
  const refused = emptyRun();
  refused.status = "starting";
  applyEvent(refused, { type: "rejected", message: "the code is over 64 KiB" });
  assert.equal(refused.status, "idle");
});

test("progress is no part of the document: rebuild leaves it out", () => {
  const events = [{ type: "start", schema: SCHEMA, device: "cpu" },
    { type: "progress", losses: [[0, 1.5], [1, 1.25]] },
    { type: "pass_log", pass_log: { total: 2, kept: [], skipped: 2, losses: [1.5, 1.25] },
      skipped_steps: 0 }];
  const doc = rebuild(events);
  assert.deepEqual(doc, { ...rebuild([events[0], events[2]]) });
  assert.deepEqual(doc.pass_log.losses, [1.5, 1.25]);
  assert.deepEqual(doc.passes, []);
});
