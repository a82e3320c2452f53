// What the Problems panel lists: the error, with the line of its cause; the warnings (a .grad
// that was read as None, or a parameter an optimizer holds that got none), each with its fix;
// and the rest as notes, folded away under "N notes". Pure, for `node --test`.

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
  for (const d of doc.diagnostics) {
    const variable = doc.variables.find((v) => v.name === d.variable);
    const item = { line: d.line, causeLine: d.line, text: `${d.variable}: [${d.code}] ${d.message}`,
                   fix: d.fix || "", node: variable ? variable.node : null,
                   variable: d.variable };
    (d.severity === "warning" || d.severity === "error" ? warnings : notes).push(item);
  }
  return { error, warnings, notes };
}
