// node --test tests/js: the JS rebuild gives the same document as the Python one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { DIAGNOSIS_CODES, EVENT_TYPES, rebuild, SCHEMA } from "../../static/js/protocol.js";

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
  let kept = 0;
  for (const { name, relayed, relayed_document: expected } of fixture) {
    assert.deepEqual(rebuild(relayed), expected, name);
    kept += JSON.stringify(expected).split('"kept":').length - 1;
  }
  assert.ok(kept > 20, `only ${kept} kept values in the examples`);
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
