import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { captionAt, lineOf } from "../../static/js/captions.js";
import { buildTimeline } from "../../static/js/timeline.js";

const fixture = JSON.parse(readFileSync(process.env.GRADTRACE_EVENTS_FIXTURE, "utf8"));

test("every frame of every example has a caption, in words, as the page gets the run", () => {
  for (const { name, relayed_document: doc } of fixture) {
    const frames = buildTimeline(doc);
    frames.forEach((frame, i) => {
      const text = captionAt(doc, frames, i);
      assert.ok(text.length > 10, `${name} frame ${i}: ${text}`);
      assert.doesNotMatch(text, /undefined|NaN|\[object|null/, `${name} frame ${i}: ${text}`);
    });
  }
});

test("a line in another of the user's files is named with its file", () => {
  assert.equal(lineOf({ line: 9 }), "line 9");
  assert.equal(lineOf({ line: 6, file: "/home/me/project/helpers.py" }), "line 6 of helpers.py");
  assert.equal(lineOf({ line: 2, file: "C:\\work\\loss.py" }), "line 2 of loss.py");
});
