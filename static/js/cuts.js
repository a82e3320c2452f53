// Where values left the graph: each recorded cut (.detach(), .data, .item(), ...) whose input was
// a node's output, to be drawn at that node as a dashed edge to a scissors mark named by the op.
// Pure, for `node --test`.

// [{node, op, line, span}] for the cuts of `doc` whose node is in `byId` (the graph drawn).
export function cutMarks(doc, byId) {
  const marks = [];
  for (const step of doc.steps) {
    if (step.kind !== "cut" || step.cut === "tensor" || step.cut_node === undefined
        || step.cut_node === null || !byId.has(step.cut_node)) { continue; }
    marks.push({ node: step.cut_node, op: step.cut, line: step.line, span: step.span });
  }
  return marks;
}
