// The inspector's markup: the table of variables and the detail of the node or variable picked.
// A trace comes from an untrusted worker, so every value from it, numbers included, goes
// through escapeHtml; only the structure here is raw markup. DOM-free, so node can test it.

import { glyphKind } from "./glyphs.js";
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
    const chosen = v.name === selectedName;
    return `<tr data-node="${esc(v.node)}" data-name="${esc(v.name)}"
      class="${chosen ? "selected" : ""}">
      <td>${esc(v.name)}</td><td>line ${esc(v.line ?? "—")}</td>
      <td>${esc(`${v.dtype}[${v.shape.join("×")}]`)}</td>
      <td>${esc(shortValue(v.value, 6))}</td><td>grad ${esc(shortValue(grad, 6))}</td></tr>`;
  });
  const picked = variable || doc.variables.find((v) => node && v.node === node.id);
  const detail = (node ? nodeDetail(doc, node, scene, variable, lineText, glyphs, whole)
    : variable ? variableDetail(variable, lineText, glyphs, whole) : "")
    + (picked && scene.atEnd ? whyNone(doc, picked.name, lineText) : "");
  const html = `${detail}<table><tr><th>variable</th><th>line</th><th>type</th>
    <th>value</th><th>grad</th></tr>${rows.join("")}</table>`;
  return { html, glyphs };
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
  const value = whole(variable && variable.node === node.id ? variable.value
    : node.values && node.values[0]);
  const grad = whole(node.kind !== "leaf" ? ran && ran.grad_in[0]
    : scene.atEnd && variable ? variable.grad : scene.leafGrads.get(node.id));
  const saved = (node.saved || []).map((e) => (e.kept // its value is on its way (details.js)
    ? `<div class="tensor"><b>saved ${esc(e.name)}</b> …</div>`
    : e.same_as
    ? `<div class="tensor"><b>saved ${esc(e.name)}</b> the output of step ${esc(e.same_as.step)}
      </div>`
    : tensorRow(`saved ${e.name}`, e.value && typeof e.value === "object" ? e.value
      : { shape: [], values: [e.value] }, glyphs)));
  const made = node.kind === "leaf" ? "leaf tensor" : esc(node.op);
  return `<p class="heading"><b>${esc(node.label)}</b> · ${made} · ${esc(node.name)}
      ${node.module ? ` · ${esc(node.module)}` : ""}</p>${sourceLine(node.line, lineText)}
    ${tensorRow("value", value, glyphs)}
    ${tensorRow(node.kind === "leaf" ? ".grad" : "grad", grad, glyphs)}
    ${ran && ran.grad_out.length ? `<div class="summary">passes on ${esc(ran.grad_out
      .map((g) => shortValue(whole(g), 6)).join(", "))}</div>` : ""}
    ${saved.join("")}`;
}

// A variable with no node in the graph (data that does not require grad, say).
function variableDetail(variable, lineText, glyphs, whole) {
  return `<p class="heading"><b>${esc(variable.name)}</b> · not in the graph</p>
    ${sourceLine(variable.line, lineText)}${tensorRow("value", whole(variable.value), glyphs)}`;
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
