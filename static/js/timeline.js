// The timeline a trace document plays as: forward steps in execution order, with each backward
// pass placed after the forward step it followed, and each pass's engine steps in their real order.
// Pure data: no DOM, so it runs under `node --test`.

// One frame per thing that happens: {kind: "forward" | "pass" | "backward", ...}.
// A backward frame's `line` is the line that made the node running (so the editor follows the
// engine through the code); `callLine` is the backward call's. `file` (and `callFile`): the
// user's other file the line is in, for a run recorded in process; null for the recorded file.
export function buildTimeline(doc) {
  const frames = [];
  const lines = new Map((doc.graph?.nodes ?? []).map((n) => [n.id, n.line]));
  const files = new Map((doc.graph?.nodes ?? []).map((n) => [n.id, n.file ?? null]));
  const passes = [...doc.passes].sort((a, b) => a.after_step - b.after_step || a.index - b.index);
  let next = 0;
  const addPassesUpTo = (stepIndex) => {
    while (next < passes.length && passes[next].after_step <= stepIndex) {
      const pass = passes[next++];
      const callFile = pass.file ?? null;
      frames.push({ kind: "pass", pass: pass.index, line: pass.line, file: callFile });
      for (const step of pass.steps) {
        const known = lines.has(step.node);
        frames.push({ kind: "backward", pass: pass.index, order: step.order, node: step.node,
                      line: known ? lines.get(step.node) : pass.line,
                      file: known ? files.get(step.node) : callFile,
                      callLine: pass.line, callFile });
      }
    }
  };
  for (const step of doc.steps) {
    addPassesUpTo(step.index - 1);
    frames.push({ kind: "forward", step: step.index, line: step.line, file: step.file ?? null,
                  nodes: step.nodes });
  }
  addPassesUpTo(Infinity);
  return frames;
}

// The pass a frame belongs to: its own in the backward part; for a forward step, the kept pass
// that step leads up to (the last one after the last pass). null when there is no pass.
export function passOfFrame(doc, frame) {
  if (!frame || !doc.passes.length) { return null; }
  return frame.kind === "forward" ? passOfStep(doc, frame.step) : frame.pass;
}

// The kept pass a forward step leads up to (the last one for a step after every pass); null
// when there is no pass.
export function passOfStep(doc, stepIndex) {
  let next = null; // the first pass at or after the step
  let last = null;
  for (const p of doc.passes) {
    if (p.after_step >= stepIndex && (!next || p.after_step < next.after_step)) { next = p; }
    if (!last || p.after_step >= last.after_step) { last = p; }
  }
  return (next || last)?.index ?? null;
}

// The frame a run shows while it goes, until the user moves the player: the end of its first
// pass (a loop's picture, with the gradients that pass left at the leaves), or the last frame
// received while that pass's engine steps have not come.
export function livePosition(frames) {
  let at = frames.findIndex((f) => f.kind === "pass");
  if (at === -1) { return Math.max(frames.length - 1, 0); }
  if (at === frames.length - 1) { return Math.max(at - 1, 0); } // its header alone, so far
  const pass = frames[at].pass;
  const inPass = (f) => f && f.kind === "backward" && f.pass === pass;
  while (inPass(frames[at + 1])) { at += 1; }
  return at;
}

// Where the backward part starts (the first pass frame), or the end when there is none.
export function backwardStart(frames) {
  const at = frames.findIndex((f) => f.kind === "pass");
  return at === -1 ? frames.length : at;
}

// What the snippet had printed by frame `index`: each print ({text, step, passes}: how many
// forward steps and passes had begun when it was printed) shows from the last frame that came
// before it; a print with no position shows from the start. At the last frame, all of `stdout`
// (which also holds what bypassed Python's print).
export function printedBy(frames, prints, index, stdout) {
  if (index >= frames.length - 1) { return stdout; }
  let shown = "";
  let j = -1; // the last frame before the print: frames and prints are both in run order
  for (const print of prints) {
    if (print.step !== null) {
      while (j + 1 < frames.length && before(frames[j + 1], print)) { j++; }
    }
    if (print.step !== null && j > index) { break; }
    shown += print.text;
  }
  return shown;
}

const before = (frame, print) => (frame.kind === "forward" ? frame.step < print.step
  : frame.pass < print.passes);
