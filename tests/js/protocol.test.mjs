// node --test tests/js: the JS rebuild gives the same document as the Python one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { rebuild, EVENT_TYPES } from "../../static/js/protocol.js";

const fixture = JSON.parse(readFileSync(process.env.GRADTRACE_EVENTS_FIXTURE, "utf8"));

test("rebuild matches the Python document for every example", () => {
  for (const { name, events, document } of fixture) {
    assert.deepEqual(rebuild(events), document, name);
    for (const e of events) { assert.ok(EVENT_TYPES.includes(e.type), e.type); }
  }
});
