import { test } from "node:test";
import assert from "node:assert/strict";
import { createPacer } from "../../static/js/pacer.js";

// A clock the test moves by hand.
function fakeClock() {
  const clock = { t: 0, timers: new Map(), next: 1 };
  Object.assign(clock, {
    now: () => clock.t,
    later: (fn, ms) => { clock.timers.set(clock.next, { fn, at: clock.t + ms }); return clock.next++; },
    cancel: (id) => clock.timers.delete(id),
    advance(ms) {
      clock.t += ms;
      for (const [id, { fn, at }] of [...clock.timers]) {
        if (at <= clock.t) { clock.timers.delete(id); fn(); }
      }
    },
  });
  return clock;
}

test("a burst of batches is shown twice: the first at once, the rest together after", () => {
  const clock = fakeClock();
  let shown = 0;
  const pacer = createPacer(() => { shown += 1; }, 200, clock);
  pacer.soon();
  assert.equal(shown, 1);
  for (let i = 0; i < 1000; i++) { pacer.soon(); clock.advance(0.1); }
  assert.equal(shown, 1);
  assert.ok(pacer.pending());
  clock.advance(200);
  assert.equal(shown, 2);
  assert.ok(!pacer.pending());
  clock.advance(1000); // quiet: nothing more to show
  assert.equal(shown, 2);
  pacer.soon(); // after a quiet spell, at once again
  assert.equal(shown, 3);
});

test("now() shows at once and takes the place of one that was due", () => {
  const clock = fakeClock();
  let shown = 0;
  const pacer = createPacer(() => { shown += 1; }, 200, clock);
  pacer.soon();
  pacer.soon();
  assert.ok(pacer.pending());
  pacer.now(); // e.g. `done`
  assert.equal(shown, 2);
  assert.ok(!pacer.pending());
  clock.advance(500);
  assert.equal(shown, 2);
});
