import { test } from "node:test";
import assert from "node:assert/strict";
import {
  createProgress, lossLog, lossText, noteEvent, progressText, setupText,
} from "../../static/js/progress.js";

const pass = (index, loss) => ({ type: "pass", pass: { index, loss } });

test("kept passes and progress build the loss line as they come", () => {
  const p = createProgress(1000);
  assert.equal(progressText(p, 1500, true), "0.5 s"); // before any pass: the clock alone
  noteEvent(p, pass(0, 8));
  assert.equal(progressText(p, 1600, true), "1 pass · loss 8 · 0.6 s");
  noteEvent(p, { type: "progress", losses: [[1, 6], [2, null], [3, 4.25]] });
  noteEvent(p, pass(9, 2)); // a kept pass after a gap that progress has not filled (yet)
  assert.deepEqual(lossLog(p), { total: 10, losses: [8, 6, null, 4.25, null, null, null, null,
    null, 2] });
  noteEvent(p, { type: "progress", losses: [[4, 3.5], [5, 3]] }); // late: fills the gap
  assert.deepEqual(p.losses.slice(0, 6), [8, 6, null, 4.25, 3.5, 3]);
  assert.equal(p.loss, 2); // the latest pass's, not the latest event's
  assert.equal(progressText(p, 5200, true), "10 passes · loss 2 · 4.2 s");
});

test("each event costs what it holds: a batch of progress extends the line, no more", () => {
  const p = createProgress(0);
  for (let i = 0; i < 100000; i += 50) {
    noteEvent(p, { type: "progress", losses: Array.from({ length: 50 }, (_, k) => [i + k, 1 / (i + k + 1)]) });
  }
  assert.equal(p.passes, 100000);
  assert.equal(progressText(p, 61000, true), "100,000 passes · loss 1.000e-5 · 61.0 s");
});

test("the final pass_log replaces the losses so far; a finished loop keeps its totals", () => {
  const p = createProgress(0);
  noteEvent(p, pass(0, 3));
  noteEvent(p, { type: "pass_log", pass_log: { total: 3, kept: [0, 2], losses: [3, 2, "nan"] } });
  noteEvent(p, { type: "done", status: "ok", duration_ms: 2950 });
  assert.deepEqual(lossLog(p), { total: 3, losses: [3, 2, "nan"] });
  assert.equal(p.loss, "nan");
  assert.equal(progressText(p, 99999, false), "3 passes in 3.0 s · last loss nan");
  assert.equal(progressText(createProgress(0), 10, false), ""); // no loop: nothing to add
  const one = createProgress(0);
  noteEvent(one, pass(0, 1));
  assert.equal(progressText(one, 10, false), "");
});

test("events that say nothing of passes leave it alone; malformed entries are skipped", () => {
  const p = createProgress(0);
  for (const e of [{ type: "forward" }, { type: "stdout", text: "x" }, { type: "progress" },
    { type: "progress", losses: [[-1, 2], ["a", 3], 7] }]) { noteEvent(p, e); }
  assert.equal(p.passes, 0);
  assert.equal(p.loss, null);
});

test("losses read at a glance", () => {
  assert.equal(lossText(215799.9), "215800");
  assert.equal(lossText(12.29897), "12.3");
  assert.equal(lossText(0), "0");
  assert.equal(lossText(2.5e-7), "2.500e-7");
  assert.equal(lossText(3e9), "3.000e+9");
  assert.equal(lossText("inf"), "inf");
});

test("the run's setup says its seed and its torch threads, or nothing for an old trace", () => {
  assert.equal(setupText({ seed: 0, threads: 1 }),
               "torch, random and numpy seeded with 0; 1 torch thread");
  assert.equal(setupText({ seed: null, threads: 4 }), "unseeded; 4 torch threads");
  assert.equal(setupText({}), "");
});
