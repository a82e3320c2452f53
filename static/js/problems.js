// What the Problems panel lists: the error, with the line of its cause; the warnings (a .grad
// that was read as None, or a leaf the error's cause cut off), each with its fix; the rest as
// notes, folded away under "N notes"; and what the code meant (inputs that need no gradient,
// intermediates, zero_grad's clearing), one line a kind, folded under "expected". Pure, for
// `node --test`.

// {error, warnings, notes}: items of {line, causeLine, text, fix, node, variable}, where `line`
// is the line to mark, `variable` the variable's name and `node` its graph node (null when it
// has none).
export function problemItems(doc) {
  const e = doc.error;
  const error = e ? {
    line: e.line, causeLine: e.cause_line ?? null, node: null, variable: null, fix: "",
    text: `${e.type} [${e.code}]: ${e.message}${e.cause_line && e.cause_line !== e.line
      ? ` (the cause: line ${e.cause_line})` : ""}`,
  } : null;
  const warnings = [];
  const notes = [];
  for (const group of sameCause(doc.diagnostics.filter((x) => !x.expected))) {
    const d = group[0];
    const variable = doc.variables.find((v) => v.name === d.variable);
    const names = group.map((x) => x.variable).join(", ");
    const told = (text) => (group.length > 1 ? named(text, d.variable, "each of them") : text);
    const item = { line: d.line, causeLine: d.line, text: `${names}: [${d.code}] ${told(d.message)}`,
                   fix: told(d.fix || ""), node: variable ? variable.node : null,
                   variable: d.variable };
    (d.severity === "warning" || d.severity === "error" ? warnings : notes).push(item);
  }
  return { error, warnings, notes, expected: expectedGroups(doc.diagnostics) };
}

// Diagnoses that say the same of several variables (a model's parameters cut off by one argmax),
// grouped in order: one item names them all, and tells the first's message and fix.
function sameCause(diagnostics) {
  const groups = new Map();
  for (const d of diagnostics) {
    const said = (text) => named(text, d.variable, "\u0000");
    const key = JSON.stringify([d.severity, d.code, d.line, said(d.message), said(d.fix)]);
    if (!groups.has(key)) { groups.set(key, []); }
    groups.get(key).push(d);
  }
  return [...groups.values()];
}

// `text` with the variable `name` (a whole name: not the `a` inside `path`) said as `instead`.
function named(text, name, instead) {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return (text || "").replace(new RegExp(`(?<![\\w.])${escaped}(?!\\w)`, "g"), () => instead);
}

// What each code of an expected state says, once for all the variables that share it (the CLI's
// report.py says the same).
const EXPECTED = {
  requires_grad_false: "need no gradient: inputs, targets and constants",
  non_leaf: "intermediates: autograd fills .grad only for leaves (retain_grad() keeps theirs)",
  grad_cleared: "cleared by zero_grad, as a training step does",
};
const STOPPED = "as the run left them: it stopped before its end";

// One item for each kind of expected state: {line, causeLine, text, fix: "", node: null,
// variable}, `variable` and `line` the first's.
export function expectedGroups(diagnostics) {
  const byCode = new Map();
  for (const d of diagnostics.filter((x) => x.expected)) {
    if (!byCode.has(d.code)) { byCode.set(d.code, []); }
    byCode.get(d.code).push(d);
  }
  return [...byCode].map(([code, group]) => {
    const lines = new Set(group.map((d) => d.line));
    const oneLine = lines.size === 1 && !lines.has(null);
    const names = group.map((d) => (oneLine || d.line === null ? d.variable
      : `${d.variable} (line ${d.line})`)).join(", ");
    return { line: null, causeLine: oneLine ? group[0].line : null, // (the text says the line)
             text: `${names}${oneLine ? ` (line ${group[0].line})` : ""}: `
               + (EXPECTED[code] || STOPPED), fix: "", node: null,
             variable: group[0].variable };
  });
}
