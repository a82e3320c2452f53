// What the canvas shows at one frame of the timeline: which nodes exist yet, which are active,
// which edges carry which gradient, and each leaf's .grad so far. Pure, for `node --test`.

const byOrder = new WeakMap(); // pass -> Map(order -> step), so a scene costs O(frames)
function stepByOrder(pass) {
  if (!byOrder.has(pass)) { byOrder.set(pass, new Map(pass.steps.map((s) => [s.order, s]))); }
  return byOrder.get(pass);
}

// The leaves each step made: a leaf appears when the step that created it runs (`x =
// torch.tensor(...)`), not at its first use. Per document.
const leavesMade = new WeakMap();
function leavesMadeBy(doc) {
  if (!leavesMade.has(doc)) {
    const maker = new Map();
    for (const step of doc.steps) {
      for (const tid of step.outputs || []) { if (!maker.has(tid)) { maker.set(tid, step.index); } }
    }
    const made = new Map();
    for (const v of doc.variables) {
      const step = maker.get(v.tensor);
      if (v.is_leaf && v.node !== null && step !== undefined) {
        if (!made.has(step)) { made.set(step, []); }
        made.get(step).push(v.node);
      }
    }
    leavesMade.set(doc, made);
  }
  return leavesMade.get(doc);
}

export function sceneAt(doc, frames, frameIndex) {
  const scene = { visible: new Set(), active: new Set(), edgeGrads: new Map(),
                  leafGrads: new Map(), line: null, callLine: null, file: null, callFile: null,
                  phase: "forward",
                  pass: null, leafBefore: new Map(), step: -1, seed: null };
  const byStep = new Map(doc.steps.map((s) => [s.index, s]));
  const leaves = leavesMadeBy(doc);
  const passes = new Map(doc.passes.map((p) => [p.index, p]));
  const last = Math.min(frameIndex, frames.length - 1);
  for (let i = 0; i <= last; i++) {
    const frame = frames[i];
    const current = i === last;
    if (frame.kind === "forward") {
      const step = byStep.get(frame.step);
      scene.step = frame.step; // the last forward step played: cuts show from their own on
      for (const id of [...(step ? step.nodes : []), ...(leaves.get(frame.step) || [])]) {
        scene.visible.add(id);
        if (current) { scene.active.add(id); }
      }
    } else {
      scene.phase = "backward";
      scene.pass = frame.pass;
      const pass = passes.get(frame.pass);
      if (frame.kind === "pass") { // the graph this pass runs on, whichever steps made it
        for (const step of pass.steps) { if (step.node !== null) { scene.visible.add(step.node); } }
        if (current) { // the seed gradient, at the root
          const root = pass.steps.find((s) => s.node === pass.roots[0]);
          scene.seed = root && root.grad_in ? { node: root.node, grad: root.grad_in[0] } : null;
          if (root) { scene.active.add(root.node); }
        }
      }
      for (const id of pass.created_nodes || []) { scene.visible.add(id); }
      if (frame.kind === "backward") {
        const step = stepByOrder(pass).get(frame.order);
        if (step && step.node !== null) {
          scene.visible.add(step.node);
          (step.grad_out || []).forEach((g, slot) => {
            if (g) { scene.edgeGrads.set(`${step.node}:${slot}`, g); }
          });
          if (step.grad_after) { scene.leafGrads.set(step.node, step.grad_after); }
          if (current) {
            scene.active.add(step.node);
            if (step.grad_after) { scene.leafBefore.set(step.node, step.grad_before); }
          }
        }
      }
    }
    if (current) {
      Object.assign(scene, { line: frame.line, callLine: frame.callLine ?? null,
                             file: frame.file ?? null, callFile: frame.callFile ?? null });
    }
  }
  scene.atEnd = frameIndex >= frames.length - 1;
  return scene;
}

// The device a node's tensor lives on, when it is not the cpu: a GPU run shows it on each node.
export function nodeDevice(node) {
  const value = node.values ? node.values.find(Boolean) : null;
  return value && value.device && value.device !== "cpu" ? value.device : null;
}

// A short text for a tensor summary: the number for scalars, a few values, or the shape.
export function shortValue(summary, limit = 4) {
  if (!summary) { return "—"; }
  const values = summary.values;
  const fmt = (v) => (Array.isArray(v) ? `${fmt(v[0])}+${fmt(v[1])}j`
    : typeof v === "number" ? String(Number(v.toPrecision(4))) : String(v));
  if (values && values.length === 1) { return fmt(values[0]); }
  if (values && values.length <= limit) { return `[${values.map(fmt).join(", ")}]`; }
  return `${summary.dtype}[${summary.shape.join("×")}]`;
}

// A value in as few characters as will say it: the number, a few values, or just the shape
// (the glyph beside it shows the rest), written so that it cannot read as a value: "8 values",
// "3×4".
export function compactValue(summary) {
  if (!summary) { return "—"; }
  if (summary.values && summary.values.length <= 4) { return shortValue(summary); }
  if (summary.shape.length === 1) { return `${summary.shape[0]} values`; }
  return summary.shape.length ? summary.shape.join("×") : shortValue(summary);
}

// What a node says at a frame: a title, a detail line, and the tensor its glyph pictures.
// Leaves: their name, then their value, or their .grad once backward has reached them. While a
// leaf accumulates, its .grad reads `before → after` (`shorter`: after alone, where that does
// not fit); while playing (progress < 1), a scalar .grad counts from before to after instead.
// Ops and outputs: `label = value`, then `op · AutogradNode`.
export function nodeFace(node, scene, progress = 1) {
  const value = node.values ? node.values[0] : null;
  if (node.kind === "leaf") {
    const grad = scene && scene.leafGrads.get(node.id);
    if (!grad) { return { title: node.label, detail: compactValue(value), glyph: value }; }
    if (!scene.leafBefore.has(node.id)) {
      return { title: node.label, detail: `grad ${compactValue(grad)}`, glyph: grad };
    }
    const before = scene.leafBefore.get(node.id);
    const tween = progress < 1 ? between(before, grad, progress) : null;
    const detail = tween !== null ? `grad ${shortValue({ values: [tween] })}`
      : `grad ${before ? compactValue(before) : "None"} → ${compactValue(grad)}`;
    // Where `before → after` does not fit, the box says what .grad is now: cut short, it
    // would read "grad None …", the opposite of what happened.
    return { title: node.label, detail, shorter: `grad ${compactValue(grad)}`, glyph: grad };
  }
  const seed = scene && scene.seed && scene.seed.node === node.id
    ? `seed ∂/∂${node.label.includes(" ") ? "(·)" : node.label} = ${compactValue(scene.seed.grad)}`
    : null;
  return { title: value ? `${node.label} = ${compactValue(value)}` : node.label,
           detail: seed || `${node.op} · ${node.name}`, glyph: value };
}

// A scalar .grad part way (t, eased) from its value before to after accumulating (None counts as
// 0); null for tensors, which show `before → after` instead.
export function between(before, after, t) {
  const scalar = (s) => s && s.values && s.values.length === 1 && typeof s.values[0] === "number";
  if (!scalar(after) || (before && !scalar(before))) { return null; }
  const from = before ? before.values[0] : 0;
  const eased = t * t * (3 - 2 * t);
  return from + (after.values[0] - from) * eased;
}
