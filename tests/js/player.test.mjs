import { test } from "node:test";
import assert from "node:assert/strict";
import {
  advance, advanceStopping, createPlayer, currentFrame, frameProgress, FRAMES_PER_SECOND, pause,
  play, seek, setSpeed, stepBack, stepForward,
} from "../../static/js/player.js";
import { backwardStart, buildTimeline } from "../../static/js/timeline.js";

test("advance is a pure function of (state, dt)", () => {
  const playing = play(createPlayer(10));
  const later = advance(playing, 0.5);
  assert.equal(later.position, 0.5 * FRAMES_PER_SECOND);
  assert.equal(playing.position, 0); // unchanged
  assert.deepEqual(advance(playing, 0.5), later);
  assert.equal(currentFrame(later), 2);
  assert.equal(frameProgress(advance(playing, 0.125)), 0.5);
});

test("paused players do not move, and playing stops at the end", () => {
  const p = createPlayer(3);
  assert.equal(advance(p, 10), p);
  const end = advance(play(p), 10);
  assert.equal(end.playing, false);
  assert.equal(currentFrame(end), 2);
  assert.equal(play(end).position, 0); // play at the end starts over
});

test("step, seek and speed", () => {
  let p = createPlayer(5);
  p = stepForward(stepForward(p));
  assert.equal(currentFrame(p), 2);
  p = stepBack(p);
  assert.equal(currentFrame(p), 1);
  assert.equal(currentFrame(stepBack(stepBack(p))), 0);
  assert.equal(currentFrame(seek(p, 99)), 4);
  p = setSpeed(play(p), 2);
  assert.equal(advance(p, 0.25).position - p.position, 2 * 0.25 * FRAMES_PER_SECOND);
  assert.equal(setSpeed(p, -1).speed, 2);
  assert.equal(pause(p).playing, false);
});

test("the timeline puts each pass after the forward step it followed", () => {
  const doc = {
    steps: [{ index: 0, line: 1, nodes: [] }, { index: 1, line: 2, nodes: [0] },
            { index: 2, line: 4, nodes: [2] }],
    passes: [
      { index: 0, after_step: 1, line: 3, steps: [{ order: 0, node: 0 }, { order: 1, node: 1 }] },
      { index: 1, after_step: 2, line: 5, steps: [{ order: 0, node: 2 }] },
    ],
  };
  const frames = buildTimeline(doc);
  assert.deepEqual(frames.map((f) => f.kind), [
    "forward", "forward", "pass", "backward", "backward", "forward", "pass", "backward",
  ]);
  assert.equal(backwardStart(frames), 2);
  assert.equal(backwardStart(buildTimeline({ steps: doc.steps, passes: [] })), 3);
});

test("pause at each node: a stop frame plays to its end and waits; play goes on past it", () => {
  const stops = (f) => f === 2 || f === 3;
  let p = advanceStopping(play(createPlayer(6)), 10, stops); // 40 frames' worth of time
  assert.equal(currentFrame(p), 2);
  assert.equal(p.playing, false);
  assert.ok(frameProgress(p) > 0.99); // its animation is over
  assert.equal(advanceStopping(p, 10, stops), p); // paused: waits
  p = advanceStopping(play(p), 0.05, stops); // a key: the next frame, 3, starts
  assert.equal(currentFrame(p), 3);
  assert.equal(p.playing, true);
  p = advanceStopping(p, 10, stops);
  assert.deepEqual([currentFrame(p), p.playing], [3, false]);
  p = advanceStopping(play(p), 10, stops); // no stop after 3: to the end
  assert.deepEqual([currentFrame(p), p.playing], [5, false]);
});
