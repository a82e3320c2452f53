import { test } from "node:test";
import assert from "node:assert/strict";
import { connectionNotice, loseRun } from "../../static/js/connection.js";

test("a run going when the socket drops is lost, and the status says so until the next run", () => {
  for (const status of ["starting", "queued", "running"]) {
    const run = { status };
    assert.ok(loseRun(run, false));
    assert.equal(run.status, "lost");
    assert.equal(connectionNotice("down", run), "run stopped: connection lost · reconnecting…");
    assert.equal(connectionNotice("up", run), "run stopped: connection lost · reconnected");
  }
});

test("a finished run, or a classroom viewer's (the room's run goes on), is not lost", () => {
  for (const [status, viewer] of [["ok", false], ["error", false], ["idle", false],
    ["running", true]]) {
    const run = { status };
    assert.ok(!loseRun(run, viewer));
    assert.equal(run.status, status);
    assert.equal(connectionNotice("down", run), "connection lost · reconnecting…");
    assert.equal(connectionNotice("up", run), null); // back: the run's own status
  }
});
