// The pace of the page's refreshes while events pour in. Applying a batch of events costs what
// that batch holds; showing them (the timeline, the panels, the picture) costs what the run holds
// so far, so it happens at most once every `interval` ms, however many batches come: the first
// batch after a quiet spell is shown at once, the ones that follow it together when the interval
// is over. `now()` says first, `soon()` within the interval. Timers are given, for `node --test`.

export function createPacer(run, interval, clock = {
  now: () => performance.now(), later: (fn, ms) => setTimeout(fn, ms),
  cancel: (timer) => clearTimeout(timer),
}) {
  let last = -Infinity; // when `run` last ran
  let timer = null;
  const fire = () => {
    if (timer !== null) { clock.cancel(timer); timer = null; }
    last = clock.now();
    run();
  };
  return {
    now: fire,
    soon() {
      if (timer !== null) { return; } // one is due already: it will show this batch too
      const wait = last + interval - clock.now();
      if (wait <= 0) { fire(); } else { timer = clock.later(() => { timer = null; fire(); }, wait); }
    },
    pending: () => timer !== null,
  };
}
