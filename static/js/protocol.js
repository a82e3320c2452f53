// The trace document and its events: the mirror of server/gradtrace/protocol.py.
// Plain ES module, no DOM: it runs in the browser and under `node --test`.

export const SCHEMA = "gradtrace/1";

export const EVENT_TYPES = Object.freeze([
  "start", "forward", "cut", "pass", "backward", "progress", "graph", "stdout",
  "variables", "diagnostics", "pass_log", "error", "end", "done",
]);

// Not part of the document: told to the client about its request.
export const NOTICE_TYPES = Object.freeze(["queued", "rejected"]);

export const DIAGNOSIS_CODES = Object.freeze([
  "requires_grad_false", "non_leaf", "detached", "no_grad", "left_graph", "not_connected",
  "no_backward", "autograd_grad_only", "grad_cleared", "inplace_modified", "inplace_leaf",
  "graph_freed", "nonscalar_backward", "no_grad_fn", "timeout", "memory_limit", "output_limit",
  "syntax_error", "user_exception",
  // added by the doctor (docs/protocol.md)
  "requires_grad_disabled", "custom_function_none", "backward_failed", "cuda_unavailable",
  "gradcheck_precision", "non_differentiable",
]);

// The layout's spacing (layout.py): x and y are not sent, only each node's layer and row.
export const LAYER_GAP = 160;
export const ROW_GAP = 70;
const EDGE_FIELDS = ["src", "dst", "slot", "output_nr"];

// Compact forms (server/gradtrace/wire.py): a usual summary is a list in this order, `values`
// last; any other stays an object. With 12 items, the server kept the values (kept.py) and sent
// their preview (or null) and the id to ask for them by.
const SUMMARY_FIELDS = ["shape", "dtype", "device", "numel", "min", "max", "mean", "norm", "nan",
  "inf"];

export function summaryFromWire(value) {
  if (!Array.isArray(value)) { return value; }
  const out = Object.fromEntries(SUMMARY_FIELDS.map((f, i) => [f, value[i]]));
  if (value.length === 11) { out.values = value[10]; }
  if (value.length === 12) {
    if (value[10] !== null) { out.preview = value[10]; }
    out.kept = value[11];
  }
  return out;
}

const summariesFromWire = (list) => list.map(summaryFromWire);

// The forward event's columns (wire.steps_wire) as the document's step objects.
export function stepsFromWire(wire) {
  const { strings, columns: cols } = wire;
  const text = (key, i) => (cols[key][i] === null ? null : strings[cols[key][i]]);
  return cols.index.map((index, i) => ({
    index, kind: text("kind", i), op: text("op", i), line: cols.line[i], span: text("span", i),
    grad_mode: text("grad_mode", i), module: text("module", i), inputs: cols.inputs[i],
    outputs: cols.outputs[i], values: summariesFromWire(cols.values[i]), nodes: cols.nodes[i],
    ...(cols.detail[i] || {}),
  }));
}

// A backward event's steps (wire.backward_steps_wire) as the document's backward steps. Each
// distinct gradient's summary comes once, in `summaries`; the steps hold indices into it.
export function backwardStepsFromWire(wire) {
  const { strings, columns: cols } = wire;
  const summaries = wire.summaries.map(summaryFromWire);
  const grad = (i) => (i === null ? null : summaries[i]);
  return cols.order.map((order, i) => {
    const detail = { ...(cols.detail[i] || {}) };
    for (const key of ["grad_before", "grad_after"]) {
      if (key in detail) { detail[key] = summaryFromWire(detail[key]); }
    }
    return { order, kind: strings[cols.kind[i]], node: cols.node[i],
             grad_in: cols.grad_in[i].map(grad), grad_out: cols.grad_out[i].map(grad), ...detail };
  });
}

// A node's values: summaries, and [step, output] references to the value of a step's output
// (a reference to no step received is a value not known: null).
function nodeValues(values, stepValues) {
  return values.map((v) => {
    if (!(Array.isArray(v) && v.length === 2)) { return summaryFromWire(v); }
    const found = stepValues.get(v[0]);
    return found && Number.isInteger(v[1]) && v[1] >= 0 && v[1] < found.length ? found[v[1]] : null;
  });
}

// The graph event's columns (wire.graph_wire) as the document's node and edge objects; steps:
// the document's steps so far, which value references point into.
export function graphFromWire(wire, steps = []) {
  const { strings, nodes: cols, edges: flat } = wire;
  const stepValues = new Map(steps.map((s) => [s.index, s.values]));
  const text = (key, i) => (cols[key][i] === null ? null : strings[cols[key][i]]);
  const nodes = cols.id.map((id, i) => {
    const node = {
      id, kind: text("kind", i), name: text("name", i), op: text("op", i), line: cols.line[i],
      span: text("span", i), x: cols.layer[i] * LAYER_GAP, y: cols.row[i] * ROW_GAP,
      layer: cols.layer[i], row: cols.row[i], module: text("module", i), step: cols.step[i],
      pass: cols.pass[i], label: text("label", i), values: nodeValues(cols.values[i], stepValues),
    };
    // A bare name: a saved entry whose value the server kept for `inspect` (details.js).
    if (cols.saved[i] !== null) {
      node.saved = cols.saved[i].map((e) => (typeof e === "string" ? { name: e, kept: true } : e));
    }
    return node;
  });
  const edges = [];
  for (let k = 0; k < flat.length; k += 4) {
    edges.push(Object.fromEntries(EDGE_FIELDS.map((f, j) => [f, flat[k + j]])));
  }
  const modules = {}; // module path -> class name
  const named = wire.modules || [];
  for (let k = 0; k + 1 < named.length; k += 2) { modules[strings[named[k]]] = strings[named[k + 1]]; }
  return { nodes, edges, modules };
}

// The columns a graph may send as a tail after the graph before it (wire.graph_delta).
const GRAPH_TAILS = ["id", "line", "step", "pass", "layer", "row", "values", "saved"];

// The whole graph from the previous whole one and a graph event's, which may be a difference
// (wire.graph_merged): `base` names the columns that continue the previous graph's.
export function graphMerged(previous, wire) {
  const base = wire.base;
  if (base === undefined || base === null) { return wire; }
  if (!previous) { throw new Error("a graph's difference from a graph that was never sent"); }
  const fits = base && typeof base === "object" && Array.isArray(base.tails)
    && base.tails.every((k) => GRAPH_TAILS.includes(k))
    && Number.isInteger(base.nodes) && base.nodes >= 0 && base.nodes <= previous.nodes.id.length
    && Number.isInteger(base.edges) && base.edges >= 0 && base.edges <= previous.edges.length
    && base.edges % 4 === 0 && base.tails.every((k) => Array.isArray(wire.nodes[k]));
  if (!fits) { throw new Error("a graph's base that does not fit the graph before it"); }
  const nodes = { ...wire.nodes };
  for (const k of base.tails) { nodes[k] = previous.nodes[k].slice(0, base.nodes).concat(nodes[k]); }
  return { strings: wire.strings, nodes, modules: wire.modules,
           edges: previous.edges.slice(0, base.edges).concat(wire.edges) };
}

export function emptyDocument() {
  return {
    schema: SCHEMA, device: "cpu", seed: 0, threads: 1, variables: [], steps: [],
    graph: { nodes: [], edges: [], modules: {} },
    skipped_steps: 0, passes: [], pass_log: { total: 0, kept: [], skipped: 0, losses: [] },
    diagnostics: [], error: null, stdout: "",
  };
}

// A run in progress: the document so far, plus the passes by index. Apply events one by one
// (applyEvent) as they arrive, each at a cost in proportion to its size; document(state) is the
// trace document they describe so far. A `progress` event (the losses of passes not kept in
// full) is no part of the document, whose final `pass_log` holds every loss: progress.js reads
// it for the page.
export function emptyRun() {
  return { doc: emptyDocument(), passes: new Map(), status: "idle", queuePosition: null,
           notices: [], graphWire: null, prints: [] };
}

export function applyEvent(run, event) {
  const doc = run.doc;
  switch (event.type) {
    case "start": doc.device = event.device; run.status = "running"; run.queuePosition = null;
      doc.seed = event.seed === undefined ? 0 : event.seed; doc.threads = event.threads || 1;
      break;
    case "forward": for (const step of stepsFromWire(event.steps)) { doc.steps.push(step); } break;
    case "cut": doc.steps.push(event.step); break;
    case "pass":
      run.passes.set(event.pass.index, { ...event.pass, steps: [], created_nodes: [], error: null });
      break;
    case "backward": // for a pass announced (a forged index names none)
      if (run.passes.has(event.index)) {
        Object.assign(run.passes.get(event.index), event.result,
                      { steps: backwardStepsFromWire(event.result.steps) });
      }
      break;
    case "stdout": // and where the run was, so that the page shows output as of its frame
      doc.stdout += event.text;
      run.prints.push({ text: event.text, step: event.step ?? null, passes: event.passes ?? null });
      break;
    case "pass_log":
      doc.pass_log = event.pass_log;
      doc.skipped_steps = event.skipped_steps;
      break;
    case "graph":
      run.graphWire = graphMerged(run.graphWire, event.graph);
      doc.graph = graphFromWire(run.graphWire, doc.steps);
      break;
    case "variables": case "diagnostics": case "error":
      doc[event.type] = event[event.type];
      break;
    case "done": run.status = event.status; run.durationMs = event.duration_ms; break;
    case "queued": run.status = "queued"; run.queuePosition = event.position; break;
    case "rejected": // a refused request; if it was our run's, the run never started
      run.notices.push(event.message);
      if (run.status === "starting") { run.status = "idle"; }
      break;
    default: break;
  }
  return run;
}

export function document(run) {
  const passes = [...run.passes.keys()].sort((a, b) => a - b).map((i) => run.passes.get(i));
  return { ...run.doc, passes };
}

// The trace document that a run's events describe (protocol.py's rebuild()).
export function rebuild(events) {
  const run = emptyRun();
  for (const event of events) { applyEvent(run, event); }
  return document(run);
}
