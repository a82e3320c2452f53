// The inspector's markup: the table of variables and the detail of the node or variable picked.
// A trace comes from an untrusted worker, so every value from it, numbers included, goes
// through escapeHtml; only the structure here is raw markup. DOM-free, so node can test it.

import { glyphKind } from "./glyphs.js";
import { groupTitle } from "./groups.js";
import { escapeHtml as esc } from "./html.js";
import { shortValue } from "./scene.js";

// doc and scene: the trace and the frame shown; node (a drawn node) and variable: what is
// picked, if anything; lineText(n): the editor's line n; whole(summary): the summary with the
// values the server kept, once it has sent them (details.js). Returns the HTML, and the
// summaries to picture in its canvas.glyph elements, in their order.
export function inspectorHtml({ doc, scene, node, variable, selectedName, lineText,
  whole = (summary) => summary }) {
  const glyphs = [];
  const rows = doc.variables.map((v) => {
    const grad = scene.atEnd ? v.grad : scene.leafGrads.get(v.node); // at the end: as left
    const value = valueAt(doc, v, scene);
    const chosen = v.name === selectedName;
    return `<tr data-node="${esc(v.node)}" data-name="${esc(v.name)}"
      class="${chosen ? "selected" : ""}">
      <td>${esc(v.name)}</td><td>line ${esc(v.line ?? "—")}</td>
      <td>${esc(`${v.dtype}[${v.shape.join("×")}]`)}</td>
      <td>${esc(value === undefined ? "not yet" : shortValue(value, 6))}</td>
      <td>grad ${esc(shortValue(grad, 6))}</td></tr>`;
  });
  const picked = variable || doc.variables.find((v) => node && v.node === node.id);
  const detail = (node ? nodeDetail(doc, node, scene, variable, lineText, glyphs, whole)
    : variable ? variableDetail(doc, variable, scene, lineText, glyphs, whole) : "")
    + (picked && scene.atEnd ? whyNone(doc, picked.name, lineText) : "");
  const html = `${detail}<table><tr><th>variable</th><th>line</th><th>type</th>
    <th>value</th><th>grad</th></tr>${rows.join("")}</table>`;
  return { html, glyphs };
}

// A variable's value as of the frame: the last step up to it that made or changed its tensor
// (undefined when none has yet: `loss` before `loss = ...` runs); at the end, as it was left.
// A tensor whose first step changed it in place (a module's parameter, which an optimizer
// updates) was there before it: until then, its leaf's value where the graph first met it.
const history = new WeakMap(); // doc -> tensor id -> [[step index, value, in place]], in order
function valueAt(doc, variable, scene) {
  if (scene.atEnd || variable.tensor === null || variable.tensor === undefined) {
    return variable.value;
  }
  if (!history.has(doc)) {
    const byTensor = new Map();
    for (const step of doc.steps) {
      const inPlace = step.kind === "set" || /_$/.test(step.op || "") || step.op === "setitem";
      (step.outputs || []).forEach((tid, i) => {
        if (!byTensor.has(tid)) { byTensor.set(tid, []); }
        byTensor.get(tid).push([step.index, step.values[i], inPlace]);
      });
    }
    history.set(doc, byTensor);
  }
  const made = history.get(doc).get(variable.tensor);
  if (!made) { return variable.value; } // made where no step saw it (a module's parameter)
  let found;
  for (const [index, value] of made) { if (index <= scene.step) { found = value; } }
  if (found === undefined && made[0][2]) {
    const leaf = doc.graph.nodes.find((n) => n.id === variable.node && n.kind === "leaf");
    return leaf && leaf.values ? leaf.values[0] : undefined;
  }
  return found;
}

// One tensor: its numbers, and a picture of them (a heatmap for 2-D, a sparkline for 1-D, a
// histogram when it is too big to list). The picture is drawn into the canvas after the HTML lands.
function tensorRow(title, summary, glyphs) {
  if (!summary) { return `<div class="tensor"><b>${esc(title)}</b> —</div>`; }
  const number = (v) => esc(shortValue({ values: [v] }));
  const broken = summary.nan || summary.inf
    ? ` · <span class="bad">${esc(summary.nan)} NaN, ${esc(summary.inf)} Inf</span>` : "";
  const stats = summary.mean !== undefined && summary.mean !== null
    ? `min ${number(summary.min)} · max ${number(summary.max)} · mean ${number(summary.mean)}`
      + ` · norm ${number(summary.norm)}${broken}`
    : summary.skipped ? `values not kept (${esc(summary.skipped)})` : "";
  const kind = glyphKind(summary); // one of a fixed few class names
  const picture = kind ? `<canvas class="glyph ${kind}"></canvas>` : "";
  if (picture) { glyphs.push(summary); }
  return `<div class="tensor"><div><b>${esc(title)}</b> ${esc(shortValue(summary, 8))}
    <div class="summary">${stats}</div></div>${picture}</div>`;
}

function sourceLine(line, lineText) {
  return line
    ? `<div class="source">line ${esc(line)}: <code>${esc(lineText(line).trim())}</code></div>`
    : "";
}

// A selected node: what made it, its value, the gradient it received, its saved tensors.
function nodeDetail(doc, node, scene, variable, lineText, glyphs, whole) {
  const pass = doc.passes.find((p) => p.index === scene.pass);
  const ran = pass && pass.steps.find((s) => s.node === node.id);
  const value = whole(variable && variable.node === node.id ? valueAt(doc, variable, scene)
    : node.values && node.values[0]); // (a variable's as of the frame, as in the table)
  const grad = whole(node.kind !== "leaf" ? ran && ran.grad_in[0]
    : scene.atEnd && variable ? variable.grad : scene.leafGrads.get(node.id));
  const saved = (node.saved || []).map((e) => (e.kept // its value is on its way (details.js)
    ? `<div class="tensor"><b>saved ${esc(e.name)}</b> …</div>`
    : e.same_as
    ? `<div class="tensor"><b>saved:</b> ${esc(savedName(doc, node, e.same_as))}</div>`
    : tensorRow(`saved ${e.name}`, e.value && typeof e.value === "object" ? e.value
      : { shape: [], values: [e.value] }, glyphs)));
  const made = node.kind === "leaf" ? "leaf tensor" : esc(node.op);
  return `<p class="heading"><b>${esc(node.label)}</b> · ${made} · ${esc(node.name)}
      ${node.module ? ` · ${esc(groupTitle(node.module))}` : ""}</p>${sourceLine(node.line, lineText)}
    ${tensorRow("value", value, glyphs)}
    ${tensorRow(node.kind === "leaf" ? ".grad" : "grad", grad, glyphs)}
    ${ran && ran.grad_out.length ? `<div class="summary">sends ${esc(sends(doc, node, ran, whole))}
      </div>` : ""}
    ${saved.join("")}`;
}

// Where a node's gradients go: "→ w: 10, → x: 5", by the node each slot's edge leads to.
function sends(doc, node, ran, whole) {
  const to = new Map(doc.graph.edges.filter((e) => e.dst === node.id).map((e) => [e.slot, e.src]));
  const label = (id) => doc.graph.nodes.find((n) => n.id === id)?.label ?? "?";
  return ran.grad_out.map((g, slot) => (g && to.has(slot)
    ? `→ ${label(to.get(slot))}: ${shortValue(whole(g), 6)}` : null)).filter(Boolean).join(", ");
}

// A saved tensor that is a step's output: its variable's name (or the step's source), and which
// input of the node's own step it is, or that it is the step's output.
function savedName(doc, node, sameAs) {
  const step = doc.steps.find((s) => s.index === sameAs.step);
  const tid = step && step.outputs ? step.outputs[sameAs.output] : undefined;
  const variable = doc.variables.find((v) => v.tensor === tid && tid !== undefined);
  const name = variable ? variable.name : step ? step.span : `step ${sameAs.step}`;
  const own = doc.steps.find((s) => s.index === node.step);
  const input = own && tid !== undefined ? own.inputs.indexOf(tid) : -1;
  return input >= 0 ? `${name} (input ${input + 1})`
    : own && own.index === sameAs.step ? `${name} (its output)` : name;
}

// A variable with no node in the graph (data that does not require grad, say).
function variableDetail(doc, variable, scene, lineText, glyphs, whole) {
  return `<p class="heading"><b>${esc(variable.name)}</b> · not in the graph</p>
    ${sourceLine(variable.line, lineText)}
    ${tensorRow("value", whole(valueAt(doc, variable, scene)), glyphs)}`;
}

// "Why is this None?": the doctor's diagnosis of a variable whose .grad is None at the end, with
// its fix and the line of the cause; folded until asked.
export function whyNone(doc, name, lineText) {
  const d = (doc.diagnostics || []).find((x) => x.variable === name);
  if (!d) { return ""; }
  return `<details class="why" data-testid="why-none"><summary>Why is ${esc(name)}.grad None?
    </summary><p>[${esc(d.code)}] ${esc(d.message)}</p><p>Fix: ${esc(d.fix)}</p>
    ${sourceLine(d.line, lineText)}</details>`;
}
