// The timeline a trace document plays as: forward steps in execution order, with each backward
// pass placed after the forward step it followed, and each pass's engine steps in their real order.
// Pure data: no DOM, so it runs under `node --test`.

// One frame per thing that happens: {kind: "forward" | "pass" | "backward", ...}.
export function buildTimeline(doc) {
  const frames = [];
  const passes = [...doc.passes].sort((a, b) => a.after_step - b.after_step || a.index - b.index);
  let next = 0;
  const addPassesUpTo = (stepIndex) => {
    while (next < passes.length && passes[next].after_step <= stepIndex) {
      const pass = passes[next++];
      frames.push({ kind: "pass", pass: pass.index, line: pass.line });
      for (const step of pass.steps) {
        frames.push({ kind: "backward", pass: pass.index, order: step.order, node: step.node,
                      line: pass.line });
      }
    }
  };
  for (const step of doc.steps) {
    addPassesUpTo(step.index - 1);
    frames.push({ kind: "forward", step: step.index, line: step.line, nodes: step.nodes });
  }
  addPassesUpTo(Infinity);
  return frames;
}

// The pass a frame belongs to: its own in the backward part; for a forward step, the kept pass
// that step leads up to (the last one after the last pass). null when there is no pass.
export function passOfFrame(doc, frame) {
  if (!frame || !doc.passes.length) { return null; }
  if (frame.kind !== "forward") { return frame.pass; }
  const next = doc.passes.find((p) => p.after_step >= frame.step);
  return (next || doc.passes[doc.passes.length - 1]).index;
}

// Where the backward part starts (the first pass frame), or the end when there is none.
export function backwardStart(frames) {
  const at = frames.findIndex((f) => f.kind === "pass");
  return at === -1 ? frames.length : at;
}
