// The trace document and its events: the mirror of server/gradtrace/protocol.py.
// Plain ES module, no DOM: it runs in the browser and under `node --test`.

export const SCHEMA = "gradtrace/1";

export const EVENT_TYPES = Object.freeze([
  "start", "forward", "cut", "pass", "backward", "drop", "graph", "stdout",
  "variables", "diagnostics", "pass_log", "error", "done",
]);

// Not part of the document: told to the client about its request.
export const NOTICE_TYPES = Object.freeze(["queued", "rejected"]);

export const DIAGNOSIS_CODES = Object.freeze([
  "requires_grad_false", "non_leaf", "detached", "no_grad", "left_graph", "not_connected",
  "no_backward", "autograd_grad_only", "grad_cleared", "inplace_modified", "inplace_leaf",
  "graph_freed", "nonscalar_backward", "no_grad_fn", "timeout", "memory_limit", "output_limit",
  "syntax_error", "user_exception",
]);

export function emptyDocument() {
  return {
    schema: SCHEMA, device: "cpu", variables: [], graph: { nodes: [], edges: [] }, steps: [],
    skipped_steps: 0, passes: [], pass_log: { total: 0, kept: [], skipped: 0, losses: [] },
    diagnostics: [], error: null, stdout: "",
  };
}

// A run in progress: the document so far, plus the passes by index. Apply events one by one
// (applyEvent) as they arrive; document(state) is the trace document they describe so far.
export function emptyRun() {
  return { doc: emptyDocument(), passes: new Map(), status: "idle", queuePosition: null,
           notices: [] };
}

export function applyEvent(run, event) {
  const doc = run.doc;
  switch (event.type) {
    case "start": doc.device = event.device; run.status = "running"; run.queuePosition = null;
      break;
    case "forward": case "cut": doc.steps.push(event.step); break;
    case "pass":
      run.passes.set(event.pass.index, { ...event.pass, steps: [], created_nodes: [], error: null });
      break;
    case "backward": Object.assign(run.passes.get(event.index), event.result); break;
    case "drop": {
      const [first, last] = event.steps;
      doc.steps = doc.steps.filter((s) => s.index < first || s.index > last);
      for (const index of event.passes) { run.passes.delete(index); }
      break;
    }
    case "stdout": doc.stdout += event.text; break;
    case "pass_log":
      doc.pass_log = event.pass_log;
      doc.skipped_steps = event.skipped_steps;
      break;
    case "graph": case "variables": case "diagnostics": case "error":
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
