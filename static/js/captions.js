// The caption of a frame: what happens at that step, in plain words with the real numbers.
// Forward: `y = w * x + b → 2.5 (line 9)`. The seed: `loss.backward() starts with ∂loss/∂loss
// = 1`. Backward: the chain rule at the running node, with its local derivative, e.g.
// `MulBackward0 (w * x, line 9) receives ∂loss/∂(w * x) = 5; ∂(w * x)/∂w = x = 2, so it sends
// 5 × 2 = 10 to w; …`. Numbers for tensors of up to 4 elements, formulas and shapes beyond.
// Pure, for `node --test`.

import { groupTitle } from "./groups.js";
import { shortValue } from "./scene.js";

const SMALL = 4; // up to this many elements, a tensor's numbers are written out

// The caption of frame `index` of `frames` (timeline.js), or "" when there is none.
export function captionAt(doc, frames, index) {
  const frame = frames[index];
  if (!frame) { return ""; }
  const ctx = contextOf(doc);
  if (frame.kind === "forward") { return forwardCaption(ctx, ctx.steps.get(frame.step)); }
  const pass = ctx.passes.get(frame.pass);
  if (!pass) { return ""; }
  if (frame.kind === "pass") { return seedCaption(ctx, pass); }
  const step = pass.steps.find((s) => s.order === frame.order);
  return step ? backwardCaption(ctx, pass, step) : "";
}

// What every caption of a document looks things up in, built once per document.
const contexts = new WeakMap();
function contextOf(doc) {
  if (contexts.has(doc)) { return contexts.get(doc); }
  const ctx = { doc, steps: new Map(), passes: new Map(), nodes: new Map(), values: new Map(),
                names: new Map(), edges: new Map(), spans: new Map() };
  for (const step of doc.steps) {
    ctx.steps.set(step.index, step);
    (step.outputs || []).forEach((tid, i) => {
      ctx.values.set(tid, step.values[i]);
      ctx.spans.set(tid, step.span);
    });
  }
  for (const pass of doc.passes) { ctx.passes.set(pass.index, pass); }
  for (const node of doc.graph.nodes) { ctx.nodes.set(node.id, node); }
  for (const edge of doc.graph.edges) {
    if (!ctx.edges.has(edge.dst)) { ctx.edges.set(edge.dst, []); }
    ctx.edges.get(edge.dst).push(edge);
  }
  for (const v of doc.variables) {
    if (v.tensor !== null && v.tensor !== undefined) { ctx.names.set(v.tensor, v.name); }
  }
  ctx.labels = nodeLabels(doc.graph, ctx.edges);
  contexts.set(doc, ctx);
  return ctx;
}

// Each node's name in the maths: its label, except where one call made several nodes (`att @ v`
// is an expand, a bmm and a view; a library module's call is all its ops). There the nodes the
// call's result does not come out of are named by what each does in it ("expand in att @ v"),
// so that a node's maths names its own operands, never ∂(att @ v)/∂(att @ v).
function nodeLabels(graph, edgesInto) {
  const byStep = new Map();
  for (const n of graph.nodes) {
    if (n.kind === "leaf" || n.step === null || n.step === undefined) { continue; }
    if (!byStep.has(n.step)) { byStep.set(n.step, []); }
    byStep.get(n.step).push(n);
  }
  const labels = new Map(graph.nodes.map((n) => [n.id, n.label]));
  for (const made of byStep.values()) {
    if (made.length < 2) { continue; }
    const ids = new Set(made.map((n) => n.id));
    const feeding = new Set(); // the call's nodes that feed another of its nodes
    for (const n of made) {
      for (const e of edgesInto.get(n.id) || []) { if (ids.has(e.src)) { feeding.add(e.src); } }
    }
    for (const n of made) {
      if (feeding.has(n.id)) {
        labels.set(n.id, `${n.name.replace(/Backward\d*$/, "").toLowerCase()} in ${n.label}`);
      }
    }
  }
  return labels;
}

// -- forward --------------------------------------------------------------------------------------

function forwardCaption(ctx, step) {
  if (!step) { return ""; }
  const named = (step.outputs || []).map((t) => ctx.names.get(t)).find(Boolean);
  const value = step.values && step.values.length ? shortValue(step.values[0], SMALL)
    : typeof step.python_value === "number" ? num(step.python_value) : null;
  const where = `${lineOf(step)}${step.module ? `, inside ${groupTitle(step.module)}` : ""}`;
  const made = `${named && named !== step.span ? `${named} = ` : ""}${step.span}`;
  const result = value === null ? "" : ` → ${value}`;
  if (step.cut === "tensor" && (step.inputs || []).length) { // torch.tensor([a, b]) of a graph's
    return `${made}${result} (${where}): a copy of the values, with no history: the gradient `
      + "stops here (✂ tensor; torch.stack keeps it)";
  }
  if (step.cut === "tensor") {
    const variable = ctx.doc.variables.find((v) => v.name === named);
    return `${made}${result} (${where}): ${variable && variable.requires_grad
      ? `a new leaf that requires grad: backward will fill ${named}.grad`
      : "a new tensor, with no history"}`;
  }
  if (step.cut === "no_grad" || step.cut === "inference_mode") {
    return `${made}${result} (${where}) runs with gradients off (line ${step.cut_line}), so `
      + "autograd records nothing: the result is cut from the graph (✂ no_grad)";
  }
  if (step.cut) {
    return `${made}${result} (${where}): the value leaves the graph (✂ ${step.cut}), and no `
      + "gradient flows back through it";
  }
  if (step.kind === "set") { return `${step.span} (${where}) sets .${step.op}`; }
  return `${made}${result} (${where})`;
}

// -- the seed -------------------------------------------------------------------------------------

function seedCaption(ctx, pass) {
  const rootId = pass.roots[0];
  const root = ctx.nodes.get(rootId);
  const first = pass.steps.find((s) => s.node === rootId);
  const seed = first && first.grad_in ? first.grad_in[0] : null;
  const called = /^(.+?)\.backward\(/.exec(pass.span || ""); // `z.backward()`: z
  const name = root ? paren(root.label) : called ? paren(called[1]) : "the output";
  const call = `${pass.span} (${lineOf(pass)})`;
  if (rootId === undefined) { // a leaf: the engine fills its .grad, and no node runs
    return `${call} starts with ∂${name}/∂${name} = 1; ${name} has no graph behind it, so no `
      + "node runs and only its own .grad is set";
  }
  if (seed && isOnes(seed)) {
    return `${call} starts with ∂${name}/∂${name} = 1${seed.numel > 1 ? " for every element" : ""}`;
  }
  return `${call} starts at ${name} with the gradient it was given: ${text(seed)}`;
}

// -- backward -------------------------------------------------------------------------------------

// A gradient too big to list is named by its shape and norm: "3×4, ‖g‖ = 1.248".
const NORM_NOTE = " (‖g‖: the norm of a gradient too big to list)";

function backwardCaption(ctx, pass, step) {
  if (step.kind === "hook") { return hookCaption(step); }
  const node = ctx.nodes.get(step.node);
  if (!node) { return ""; }
  const g = step.grad_in ? step.grad_in[0] : null;
  if (node.kind === "leaf") {
    const before = step.grad_before ? text(step.grad_before) : "None";
    return `AccumulateGrad(${node.label}): ${node.label}.grad was ${before}, adds ${text(g)}, `
      + `now ${text(step.grad_after || g)}`;
  }
  const root = ctx.nodes.get(pass.roots[0]);
  const loss = root ? paren(root.label) : "loss";
  const out = paren(ctx.labels.get(node.id));
  const head = `${node.name} (${place(node)}) receives ∂${loss}/∂${out} = ${text(g)}`;
  const rule = ruleOf(node);
  const clauses = [];
  for (const edge of (ctx.edges.get(node.id) || []).sort((a, b) => a.slot - b.slot)) {
    const sent = step.grad_out ? step.grad_out[edge.slot] : null;
    if (!sent) { continue; }
    const target = ctx.nodes.get(edge.src);
    const name = target ? paren(ctx.labels.get(target.id)) : `input ${edge.slot}`;
    const local = rule ? rule(operands(ctx, node), edge.slot, sent) : null;
    clauses.push(local ? chainClause(out, name, local, g, sent)
      : `it sends the vector–Jacobian product of ${node.op}, ${text(sent)}, to ${name}`);
  }
  const said = clauses.length ? `${head}; ${clauses.join("; ")}.` : `${head}.`;
  return said.includes("‖g‖") ? said + NORM_NOTE : said;
}

// Where a node came from: its source and line, or, for one autograd made itself (gradcheck's
// UndefinedGradBackward), no line at all.
const place = (node) => [node.span, node.line ? lineOf(node) : null].filter(Boolean)
  .join(", ") || "made inside autograd";

// "line 9", or "line 6 of helpers.py" for a line in another of the user's files (a run
// recorded in process: protocol.md).
export function lineOf(item) {
  const file = item.file ? ` of ${item.file.split(/[\\/]/).pop()}` : "";
  return `line ${item.line}${file}`;
}

// A user's hook fired: which one, on what, and what it did to the gradient.
function hookCaption(step) {
  const on = step.hook === "tensor" ? `the tensor ${step.target || ""}`.trim()
    : `module ${step.module}`;
  const [before, after] = [step.grad_in?.[0], step.grad_out?.[0]];
  const changed = before && after && text(before) !== text(after)
    ? `changed the gradient from ${text(before)} to ${text(after)}`
    : `saw the gradient ${text(after || before)} and left it as it was`;
  return `Your ${step.hook === "backward_pre" ? "backward pre-" : step.hook === "tensor" ? ""
    : "backward "}hook ${step.name} (registered on line ${step.registered_line}) on ${on} `
    + `${changed}`;
}

// `∂out/∂name = formula = value, so it sends g × value = sent to name`, as far as the numbers
// go. Where the rule has no value (an operand that is a Python number, `x * 3`), the local
// derivative is read off the gradients torch sent: sent / g.
function chainClause(out, name, local, g, sent) {
  const d = `∂${out}/∂${name} = ${local.formula}`;
  if (!small(g) || !small(sent) || local.matrix) {
    return `${d}, so it sends ${text(sent)} to ${name}`;
  }
  let value = local.value ?? null;
  if (value === null && g.values.length === 1 && g.values[0] !== 0) {
    value = unary(sent, (v) => v / g.values[0]);
  } else if (value === null && g.values.length === sent.values.length
             && g.values.every((v) => v !== 0)) { // elementwise: each element's own ratio
    value = unary(sent, (v, i) => v / g.values[i]);
  }
  if (value === null) { return `${d}, so it sends ${text(sent)} to ${name}`; }
  const l = Array.isArray(value) ? `[${value.map(num).join(", ")}]` : num(value);
  const said = local.formula === l ? `∂${out}/∂${name} = ${l}` : `${d} = ${l}`;
  const spread = sent.values.length > g.values.length && !Array.isArray(value)
    ? ", the same to each element" : ""; // a sum or mean: one gradient for many elements
  return `${said}, so it sends ${text(g)} × ${l} = ${text(sent)} to ${name}${spread}`;
}

// The forward values the rules use: each input's (by the step's inputs, in call order), the
// output's, and the numbers the node saved (an exponent, an alpha).
function operands(ctx, node) {
  const step = ctx.steps.get(node.step);
  const inputs = step ? step.inputs.map((t) => ctx.values.get(t) || null) : [];
  const saved = new Map();
  for (const entry of node.saved || []) {
    if (typeof entry.value === "number") { saved.set(entry.name, entry.value); }
  }
  // An input's name: its variable's, else the label of the node its gradient goes to, else the
  // source that made it (`torch.tensor([1.0, 2.0])`).
  const ids = step ? step.inputs : [];
  const to = new Map((ctx.edges.get(node.id) || []).map((e) => [e.slot, ctx.nodes.get(e.src)]));
  const nameOf = (i, fallback) => ctx.names.get(ids[i])
    || (to.get(i) ? paren(ctx.labels.get(to.get(i).id)) : null)
    || (ctx.spans.has(ids[i]) ? paren(ctx.spans.get(ids[i])) : fallback);
  return { a: inputs[0] || null, b: inputs[1] || null, y: node.values ? node.values[0] : null,
           saved, nameA: nameOf(0, "a"), nameB: nameOf(1, "b") };
}

// Local rules: (operands, slot, the gradient sent) -> {formula, value?, matrix?}. `value` is a
// number, or a list for an elementwise derivative, when the operands are small enough to say it.
// `matrix`: the derivative is no elementwise factor (a matmul, a reshape), so no number is read
// off the gradients for it. Keyed by the forward op, or by the autograd node where one op makes
// several (F.linear's transpose of W, cross_entropy's log_softmax and nll_loss).
const elementwise = (formula, f, of = "a") => (o) => ({ formula: formula(o.nameA),
                                                       value: unary(o[of], f) });
const unary = (s, f) => {
  if (!small(s)) { return null; }
  const values = s.values.map((v, i) => f(v, i));
  return values.length === 1 ? values[0] : values;
};
const matrix = (formula) => ({ formula, matrix: true });
// Nodes that only move elements around (a matmul of vectors unsqueezes and squeezes, a view
// inside F.linear): whatever call made them, they hand the gradient back in the input's shape.
// Keyed by the autograd node, since the call's own rule (matmul's) is not theirs.
const back = (how) => (o, slot, sent) => matrix(
  `1: the gradient ${how} back to the input's shape, ${shapeWords(sent)}`);
const SHAPE_NODES = [
  [/^(View|Reshape|UnsafeView|Squeeze|Unsqueeze|Flatten|Unflatten)(Alias)?Backward\d*$/,
    back("reshaped")],
  [/^(Permute|Transpose|T)Backward\d*$/, back("transposed")],
  [/^ExpandBackward\d*$/, back("summed over the expanded dimensions,")],
  [/^CloneBackward\d*$/, () => matrix("1: a copy passes the gradient on unchanged")],
];
const shapeRule = (name) => (SHAPE_NODES.find(([pattern]) => pattern.test(name)) || [])[1];

const RULES = {
  add: (o, slot) => {
    const alpha = o.saved.get("alpha") ?? 1;
    return slot === 0 || alpha === 1 ? { formula: "1", value: 1 }
      : { formula: `α = ${num(alpha)}`, value: alpha };
  },
  sub: (o, slot) => {
    const alpha = o.saved.get("alpha") ?? 1;
    return slot === 0 ? { formula: "1", value: 1 }
      : { formula: alpha === 1 ? "−1" : `−α = ${num(-alpha)}`, value: -alpha };
  },
  mul: (o, slot) => {
    const other = slot === 0 ? o.b : o.a;
    return { formula: other ? (slot === 0 ? o.nameB : o.nameA) : "the other factor",
             value: other ? unary(other, (v) => v) : null };
  },
  div: (o, slot) => (slot === 0
    ? { formula: `1/${o.nameB}`, value: o.b ? unary(o.b, (v) => 1 / v) : null }
    : { formula: `−${o.nameA}/${o.nameB}²`, value: pair(o.a, o.b, (a, b) => -a / (b * b)) }),
  neg: () => ({ formula: "−1", value: -1 }),
  pow: (o, slot) => {
    const n = o.saved.get("exponent");
    if (n !== undefined) {
      const power = n - 1 === 1 ? o.nameA : `${o.nameA}^${num(n - 1)}`;
      return { formula: n - 1 === 0 ? num(n) : `${num(n)}·${power}`,
               value: unary(o.a, (v) => n * v ** (n - 1)) };
    }
    return slot === 0
      ? { formula: `${o.nameB}·${o.nameA}^(${o.nameB}−1)`,
          value: pair(o.a, o.b, (a, b) => b * a ** (b - 1)) }
      : { formula: `${o.nameA}^${o.nameB}·ln ${o.nameA}`,
          value: pair(o.a, o.b, (a, b) => a ** b * Math.log(a)) };
  },
  exp: (o) => ({ formula: `exp(${o.nameA}), the output itself`, value: unary(o.y, (v) => v) }),
  log: elementwise((a) => `1/${a}`, (v) => 1 / v),
  sqrt: (o) => ({ formula: `1/(2·√${o.nameA})`, value: unary(o.y, (v) => 0.5 / v) }),
  abs: elementwise((a) => `sign(${a})`, Math.sign),
  sin: elementwise((a) => `cos(${a})`, Math.cos),
  cos: elementwise((a) => `−sin(${a})`, (v) => -Math.sin(v)),
  tanh: (o) => ({ formula: `1 − tanh²(${o.nameA})`, value: unary(o.y, (v) => 1 - v * v) }),
  sigmoid: (o) => ({ formula: `σ(${o.nameA})·(1 − σ(${o.nameA}))`,
                     value: unary(o.y, (v) => v * (1 - v)) }),
  relu: elementwise((a) => `1 where ${a} > 0, else 0`, (v) => (v > 0 ? 1 : 0)),
  sum: () => ({ formula: "1", value: 1 }),
  mean: (o) => {
    const n = o.a ? o.a.numel : null;
    return { formula: n ? `1/${n}` : "1/n", value: n ? 1 / n : null };
  },
  matmul: matmulRule,
  mm: matmulRule,
  linear: (o, slot, sent) => matrix(sent.shape.length === 1
    ? "1 for each row: the bias gets the gradient summed over the batch"
    : o.a && sameShape(sent, o.a) ? `W: the input gets grad @ W (${shape(sent)})`
      : `the input: Wᵀ gets inputᵀ @ grad (${shape(sent)})`),
  view: back("reshaped"),
  reshape: back("reshaped"),
  mse_loss: (o, slot) => {
    const n = o.a ? o.a.numel : null;
    const sign = slot === 0 ? 1 : -1;
    return { formula: `${sign < 0 ? "−" : ""}2·(input − target)/${n ?? "n"}`,
             value: n ? pair(o.a, o.b, (a, b) => (sign * 2 * (a - b)) / n) : null };
  },
  cross_entropy: () => matrix("softmax(input) − one-hot(target), over the batch"),
  softmax: () => matrix("y·(grad − Σ grad·y), with y the softmax"),
};

const NODE_RULES = {
  LogSoftmaxBackward0: () => matrix("grad − softmax(input)·Σ grad, for log_softmax"),
  NllLossBackward0: () => matrix("−1/N at each row's target class, 0 elsewhere (nll_loss)"),
};

const ruleOf = (node) => NODE_RULES[node.name] || shapeRule(node.name) || RULES[node.op] || null;

function matmulRule(o, slot, sent) {
  return matrix(slot === 0 ? `${o.nameB}: ${o.nameA} gets grad @ ${o.nameB}ᵀ (${shape(sent)})`
    : `${o.nameA}: ${o.nameB} gets ${o.nameA}ᵀ @ grad (${shape(sent)})`);
}

// An elementwise function of two operands, when both are small (a scalar broadcasts).
function pair(a, b, f) {
  if (!small(a) || !small(b)) { return null; }
  const n = Math.max(a.values.length, b.values.length);
  const at = (s, i) => s.values[s.values.length === 1 ? 0 : i];
  const values = Array.from({ length: n }, (_, i) => f(at(a, i), at(b, i)));
  return values.length === 1 ? values[0] : values;
}

// -- text -----------------------------------------------------------------------------------------

const small = (s) => Boolean(s && Array.isArray(s.values) && s.values.length <= SMALL
  && s.values.every((v) => typeof v === "number"));
const sameShape = (a, b) => a.shape.join("×") === b.shape.join("×");
const shape = (s) => (s.shape.length ? s.shape.join("×") : "scalar");
const shapeWords = (s) => (s.shape.length === 1 ? `${s.shape[0]} values` : shape(s));
const isOnes = (s) => small(s) && s.values.every((v) => v === 1)
  || (s.min === 1 && s.max === 1);
const num = (v) => shortValue({ values: [v] });
const text = (s) => (!s ? "None" : small(s) || typeof s.norm !== "number" ? shortValue(s, SMALL)
  : `${shape(s)}, ‖g‖ = ${num(s.norm)}`);
// A label that is more than a name is wrapped, so that ∂loss/∂(w * x) reads as one thing.
const paren = (label) => (/[^\w]/.test(label || "") ? `(${label})` : label || "?");
