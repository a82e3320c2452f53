import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { inspectorHtml, whyNone } from "../../static/js/inspector.js";
import { sceneAt } from "../../static/js/scene.js";
import { buildTimeline } from "../../static/js/timeline.js";

const fixture = JSON.parse(readFileSync(process.env.GRADTRACE_EVENTS_FIXTURE, "utf8"));
const EVIL = `<img src=x onerror="window.__pwned=1">`;

// A trace as a hostile worker might send it: markup in every field the inspector shows,
// including those that should be numbers.
function hostileDoc() {
  const summary = { shape: [EVIL], dtype: EVIL, values: [EVIL], min: EVIL, max: EVIL, mean: EVIL,
                    norm: EVIL, nan: EVIL, inf: EVIL };
  const node = { id: 0, kind: "op", label: EVIL, op: EVIL, name: EVIL, module: EVIL, line: EVIL,
                 values: [summary],
                 saved: [{ name: EVIL, same_as: { step: EVIL } }, { name: EVIL, value: EVIL },
                         { name: EVIL, value: { ...summary, mean: null, skipped: EVIL } }] };
  const step = { node: 0, grad_in: [summary], grad_out: [summary] };
  return {
    node,
    doc: { variables: [{ name: EVIL, node: EVIL, line: EVIL, dtype: EVIL, shape: [EVIL],
                         value: summary, grad: summary }],
           passes: [{ index: 0, steps: [step] }],
           steps: [{ index: EVIL, span: EVIL, inputs: [EVIL], outputs: [EVIL], values: [summary] }],
           graph: { nodes: [node], edges: [{ src: 0, dst: 0, slot: 0 }] },
           diagnostics: [{ variable: EVIL, code: EVIL, line: EVIL, message: EVIL, fix: EVIL }] },
    scene: { atEnd: true, pass: 0, leafGrads: new Map() },
  };
}

test("no value from the trace reaches the markup unescaped", () => {
  const { doc, scene, node } = hostileDoc();
  for (const picked of [{ node }, { variable: doc.variables[0] }, {}]) {
    const { html } = inspectorHtml({ doc, scene, selectedName: EVIL, lineText: () => EVIL,
                                     ...picked });
    const unescaped = html.replaceAll("&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;", "");
    assert.ok(!unescaped.includes("__pwned"), unescaped);
    assert.ok(html.includes("&lt;img"));
  }
});

test("a real trace's inspector names its variables and pictures its tensors", () => {
  const { document } = fixture.find((f) => f.name === "wx_plus_b_loss.py");
  const frames = buildTimeline(document);
  const scene = sceneAt(document, frames, frames.length - 1);
  const variable = document.variables.find((v) => v.name === "w");
  const node = document.graph.nodes.find((n) => n.id === variable.node);
  const { html, glyphs } = inspectorHtml({ doc: document, scene, node, variable,
                                           selectedName: "w", lineText: (n) => `line ${n} text` });
  assert.match(html, /<tr data-node="\d+" data-name="w"\s+class="selected">/);
  assert.match(html, /<div class="source">line \d+: <code>line \d+ text<\/code><\/div>/);
  assert.equal(glyphs.length, html.split('<canvas class="glyph').length - 1);
});

test("the inspector shows what the server sent when asked, and reports what it lacks", () => {
  const previewed = (v) => v.value && Number.isInteger(v.value.kept) && v.value.preview
    && v.node !== null;
  const { relayed_document: doc, document: full } = fixture.find(
    (f) => f.relayed_document.variables.some(previewed));
  const variable = doc.variables.find(previewed);
  const whole = full.variables.find((v) => v.name === variable.name).value;
  const frames = buildTimeline(doc);
  const scene = sceneAt(doc, frames, frames.length - 1);
  const node = doc.graph.nodes.find((n) => n.id === variable.node);
  const asked = [];
  const lacking = inspectorHtml({ doc, scene, node, variable, selectedName: variable.name,
                                  lineText: () => "", whole: (s) => { asked.push(s); return s; } });
  assert.ok(asked.includes(variable.value));
  assert.equal(lacking.glyphs[0], variable.value); // drawn from its preview meanwhile
  const filled = inspectorHtml({ doc, scene, node, variable, selectedName: variable.name,
                                 lineText: () => "", whole: (s) => (s === variable.value ? whole : s) });
  assert.equal(filled.glyphs[0], whole);
});

test("a variable whose .grad is None at the end answers why, with the fix and the cause's line", () => {
  const doc = {
    variables: [{ name: "x", node: 3, line: 2, dtype: "float32", shape: [], value: null,
                  grad: null }],
    passes: [],
    diagnostics: [{ variable: "x", code: "detached", line: 4, severity: "warning",
                    message: "No backward pass reached x", fix: "Use the tensor itself" }],
  };
  const lineText = (n) => ["", "import torch", "x = ...", "y = x * 3", "z = y.detach() * 2"][n];
  const why = whyNone(doc, "x", lineText);
  assert.ok(why.includes('data-testid="why-none"') && why.includes("Why is x.grad None?"));
  assert.ok(why.includes("[detached] No backward pass reached x")
            && why.includes("Fix: Use the tensor itself")
            && why.includes("line 4: <code>z = y.detach() * 2</code>"), why);
  assert.equal(whyNone(doc, "y", lineText), "");
  const { html } = inspectorHtml({ doc, scene: { atEnd: true, leafGrads: new Map() },
                                   variable: doc.variables[0], selectedName: "x", lineText });
  assert.ok(html.includes("why-none"));
});

test("at a frame of the first pass, a picked variable's value is the one of that frame", () => {
  const { relayed_document: doc } = fixture.find((f) => f.name === "manual_linear_xor.py");
  const frames = buildTimeline(doc);
  const at = frames.findIndex((f) => f.kind === "backward" && f.pass === doc.passes[0].index);
  const scene = sceneAt(doc, frames, at);
  const variable = doc.variables.find((v) => v.name === "weight");
  const node = doc.graph.nodes.find((n) => n.id === variable.node);
  const { html } = inspectorHtml({ doc, scene, node, variable, selectedName: "weight",
                                   lineText: () => "" });
  const row = html.match(/data-name="weight"[\s\S]*?<\/tr>/)[0];
  const shown = (text) => text.match(/\[-?[\d.]+, -?[\d.]+\]/)[0];
  const detail = html.split("<table>")[0];
  assert.equal(shown(detail), shown(row)); // the detail agrees with the table at this frame
  const end = inspectorHtml({ doc, scene: sceneAt(doc, frames, frames.length - 1), node, variable,
                              selectedName: "weight", lineText: () => "" }).html;
  assert.notEqual(shown(end.split("<table>")[0]), shown(detail)); // 1000 epochs later
});

test("a module's parameter that an optimizer updates is there before its first update", () => {
  for (const name of ["sgd_step_linear.py", "gradient_accumulator.py"]) {
    const { relayed_document: doc } = fixture.find((f) => f.name === name);
    const frames = buildTimeline(doc);
    const params = doc.variables.filter((v) => v.name.includes(".") && v.node !== null);
    assert.ok(params.length, name);
    frames.forEach((frame, i) => {
      const { html } = inspectorHtml({ doc, scene: sceneAt(doc, frames, i), lineText: () => "" });
      for (const v of params) {
        const row = html.match(new RegExp(`data-name="${v.name}"[\\s\\S]*?</tr>`))[0];
        assert.doesNotMatch(row, /not yet/, `${name} frame ${i}: ${v.name}`);
      }
    });
  }
});
