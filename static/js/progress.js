// A run's progress while it runs: how many backward passes have run, the latest loss, the time
// since Run, and the loss of every pass so far (the loss chart's line). Read from the events as
// they come: a kept pass's header (`pass`, with its loss) and `progress` (the passes not kept in
// full, as [index, loss] pairs); the final `pass_log` replaces the losses with the whole log.
// Each event costs O(its own size). Pure, for `node --test`.

// `startedAt`: when the run began, in ms (performance.now() in the page).
export function createProgress(startedAt) {
  return {
    startedAt, passes: 0, loss: null, lossAt: -1, durationMs: null,
    losses: [], // per pass index: its loss (a number, a string such as "nan", or null)
    version: 0, // bumped whenever the losses change: the chart redraws when it moves
  };
}

function setLoss(progress, index, loss) {
  if (!Number.isInteger(index) || index < 0) { return; }
  const { losses } = progress;
  while (losses.length < index) { losses.push(null); } // passes not heard of (yet): no point
  losses[index] = loss ?? null;
  progress.passes = Math.max(progress.passes, index + 1);
  if (index >= progress.lossAt && loss !== null && loss !== undefined) {
    progress.loss = loss;
    progress.lossAt = index;
  }
  progress.version += 1;
}

// Takes in one event; returns whether the progress changed.
export function noteEvent(progress, event) {
  switch (event.type) {
    case "pass": setLoss(progress, event.pass.index, event.pass.loss); return true;
    case "progress":
      for (const entry of Array.isArray(event.losses) ? event.losses : []) {
        if (Array.isArray(entry)) { setLoss(progress, entry[0], entry[1]); }
      }
      return true;
    case "pass_log": { // the whole log: every pass's loss
      const log = event.pass_log;
      progress.losses = Array.isArray(log.losses) ? log.losses : [];
      progress.passes = Math.max(log.total || 0, progress.losses.length);
      const at = progress.losses.findLastIndex((v) => v !== null && v !== undefined);
      [progress.loss, progress.lossAt] = at >= 0 ? [progress.losses[at], at] : [null, -1];
      progress.version += 1;
      return true;
    }
    case "done": progress.durationMs = event.duration_ms ?? null; return true;
    default: return false;
  }
}

// How the run was set up, where its numbers may differ from another run of the code: its seed
// and its torch threads (a sum over more threads adds up in another order). The CLI's report.py
// says the same.
export function setupText(doc) {
  if (doc.seed === undefined) { return ""; } // a trace saved before runs said how
  const seeded = doc.seed === null ? "unseeded" : `torch, random and numpy seeded with ${doc.seed}`;
  const threads = doc.threads || 1;
  return `${seeded}; ${threads} torch thread${threads === 1 ? "" : "s"}`;
}

// {total, losses} for the loss chart, as a finished run's pass_log gives them.
export const lossLog = (progress) => ({ total: progress.passes, losses: progress.losses });

// "1,234 passes · loss 13.2 · 4.1 s" while a run goes (`now`: ms on the clock of `startedAt`);
// after it, "2,000 passes in 4.1 s · last loss 12.3" for a loop, and "" for a run of one pass
// or none (Problems and the player say the rest).
export function progressText(progress, now, busy) {
  const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
  const count = String(progress.passes).replace(/\B(?=(\d{3})+$)/g, ","); // 1,234 (no Intl: slow to start)
  const loss = progress.loss === null ? null : lossText(progress.loss);
  if (busy) {
    const passes = progress.passes ? `${count} pass${progress.passes === 1 ? "" : "es"}` : null;
    return [passes, loss === null ? null : `loss ${loss}`,
            seconds(Math.max(now - progress.startedAt, 0))].filter(Boolean).join(" · ");
  }
  if (progress.passes < 2) { return ""; }
  const took = progress.durationMs === null ? "" : ` in ${seconds(progress.durationMs)}`;
  return `${count} passes${took}${loss === null ? "" : ` · last loss ${loss}`}`;
}

// A loss as the chart's reader wants it: 4 significant digits; "nan" and "inf" as sent.
export function lossText(loss) {
  if (typeof loss !== "number") { return String(loss); }
  return Math.abs(loss) >= 1e6 || (loss !== 0 && Math.abs(loss) < 1e-3) ? loss.toExponential(3)
    : String(Number(loss.toPrecision(4)));
}
