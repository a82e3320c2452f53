// The panels beside the graph, drawn from the document, the frame's scene and the selection:
// Problems, the pass picker with its loss chart, the minimap, the inspector, and the player's
// readout with the editor's lines of the frame. `app`: {state,
// ui, editor, request(name, payload, reply), render(), centreOnBox(box), act(change)}.

import { drawGlyph } from "./glyphs.js";
import { wholeSaved, wholeSummary } from "./details.js";
import { inspectorHtml } from "./inspector.js";
import { drawMinimap, overflows } from "./minimap.js";
import { seek } from "./player.js";
import { problemItems } from "./problems.js";
import { lossLog } from "./progress.js";
import { shortValue } from "./scene.js";

// Drawn again only when what it lists changed (a run's error, diagnostics or variables).
export function renderProblems(app) {
  const { state, ui, editor } = app;
  const doc = state.doc;
  const key = [doc.error, doc.diagnostics, doc.variables];
  if (state.problemsKey && key.every((part, i) => part === state.problemsKey[i])) { return; }
  state.problemsKey = key;
  ui.problems.replaceChildren();
  for (const [line, where, cls] of state.errorLines) { editor.removeLineClass(line, where, cls); }
  state.errorLines = [];
  const { error, warnings, notes, expected } = problemItems(state.doc);
  const mark = (line, where, cls) => {
    state.errorLines.push([editor.addLineClass(line - 1, where, cls), where, cls]);
  };
  const entry = (item, cls) => {
    const li = window.document.createElement("li");
    li.textContent = `${item.line ? `line ${item.line}: ` : ""}${item.text}`;
    if (cls) { li.classList.add(cls); }
    if (item.fix) {
      const fix = window.document.createElement("div");
      fix.className = "fix";
      fix.textContent = `Fix: ${item.fix}`;
      li.append(fix);
    }
    li.addEventListener("click", () => showProblem(app, item));
    return li;
  };
  if (error) {
    ui.problems.append(entry(error, "error"));
    if (error.line) { mark(error.line, "background", "error-line"); } // errors tint their line
    if (error.causeLine && error.causeLine !== error.line) {
      mark(error.causeLine, "wrap", "diagnosis-line");
    }
  }
  for (const item of warnings) {
    ui.problems.append(entry(item, "warning"));
    if (item.line) { mark(item.line, "wrap", "diagnosis-line"); } // in the margin
  }
  const folded = (items, title, testid) => { // folded away, and leave the editor alone
    if (!items.length) { return; }
    const li = window.document.createElement("li");
    const details = window.document.createElement("details");
    const summary = window.document.createElement("summary");
    summary.textContent = title;
    const list = window.document.createElement("ul");
    list.append(...items.map((item) => entry(item, "")));
    details.append(summary, list);
    li.className = "notes";
    li.dataset.testid = testid;
    li.append(details);
    ui.problems.append(li);
  };
  folded(notes, `${notes.length} note${notes.length === 1 ? "" : "s"}`, "notes");
  folded(expected, "expected: nothing to fix", "expected");
}

// A problem clicked: its cause's line in the editor, its variable in the inspector, and on the
// graph the cut made on that line (marked, and brought into view) or else the variable's node.
function showProblem(app, item) {
  const { state, editor } = app;
  app.userActed();
  const line = item.causeLine || item.line;
  if (line) { editor.setCursor({ line: line - 1, ch: 0 }); editor.focus(); }
  const cuts = state.graph ? state.graph.cuts : [];
  const cut = cuts.find((c) => line && c.line === line);
  cuts.forEach((c) => { c.focused = c === cut; });
  const target = cut ? cut.box : item.node !== null && state.graph.byId.get(item.node);
  if (target) { app.centreOnBox(target); }
  state.selected = item.node;
  state.selectedName = item.variable;
  app.render();
}

// The pass list (kept passes) and, for loops, the loss of every pass as a sparkline.
export function renderPasses({ state, ui }) {
  const doc = state.doc;
  const key = doc.passes.map((p) => `${p.index}:${p.line}:${p.loss}`).join(",");
  if (key === state.passesKey && ui.passes.options.length === (doc.passes.length > 1
    ? doc.passes.length : 0)) { return; }
  state.passesKey = key;
  const options = doc.passes.map((p) => new Option(
    `pass ${p.index} · line ${p.line}${p.loss === null ? "" : ` · loss ${shortValue({ values: [p.loss] })}`}`,
    String(p.index)));
  ui.passes.replaceChildren(...(doc.passes.length > 1 ? options : []));
  state.passShown = undefined; // drawn again with the frame's pass marked (showPass)
}

// The loss of every pass: the run's pass_log once it has come, else the losses so far.
const lossesOf = (state) => (state.doc.pass_log.total ? state.doc.pass_log
  : lossLog(state.progress));

// The pass picker and the loss chart follow the player: both show the pass of the frame. The
// chart grows while a run goes, drawn again as new losses come.
export function showPass({ state, ui }, pass) {
  const log = lossesOf(state);
  const shown = `${pass}:${state.progress.version}:${log === state.doc.pass_log}`;
  if (shown === state.passShown) { return; }
  state.passShown = shown;
  if (pass !== null && ui.passes.options.length) { ui.passes.value = String(pass); }
  drawLosses(ui.losses, log, log.total > 1, pass);
}

// The loss of every pass as a line, the pass `current` marked with a dot.
function drawLosses(canvas, log, show, current) {
  if (!show) { return; }
  const ratio = window.devicePixelRatio || 1;
  canvas.width = canvas.clientWidth * ratio;
  canvas.height = canvas.clientHeight * ratio;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const values = Array.from(log.losses, (v) => (typeof v === "number" ? v : null));
  let [lo, hi, known] = [Infinity, -Infinity, 0]; // (no spread: a long loop has 10^5 passes)
  for (const v of values) {
    if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); known += 1; }
  }
  if (known < 2) { return; }
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  const x = (i) => (i / (Math.max(log.total, values.length) - 1)) * (w - 4) + 2;
  const y = (v) => (hi === lo ? h / 2 : h - 3 - ((v - lo) / (hi - lo)) * (h - 6)); // flat: mid
  const ink = getComputedStyle(canvas).getPropertyValue("--grad");
  ctx.strokeStyle = ink;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  values.forEach((v, i) => {
    if (v === null) { return; }
    if (i === 0) { ctx.moveTo(x(i), y(v)); } else { ctx.lineTo(x(i), y(v)); }
  });
  ctx.stroke();
  if (typeof values[current] === "number") {
    ctx.beginPath();
    ctx.arc(x(current), y(values[current]), 3.5, 0, 2 * Math.PI);
    ctx.fillStyle = ink;
    ctx.fill();
  }
  canvas.dataset.current = current ?? ""; // for tests: the pass the chart marks
}

// The player's readout for a frame, and the editor's lines: the running line and, during
// backward, the backward call's line in a softer colour. A line already marked is left alone:
// each change to the editor makes it measure and draw itself again.
const marked = { running: null, call: null };
export function renderFrame({ state, ui, editor }, frameIndex, scene) {
  ui.timeline.value = frameIndex;
  ui.play.textContent = state.player.playing ? "❚❚" : "▶";
  const frame = state.frames[frameIndex];
  const pass = frame && frame.kind !== "forward" ? ` (pass ${frame.pass})` : "";
  ui.frame.textContent = frame ? `${frameIndex + 1}/${state.frames.length} · ${frame.kind}${pass}`
    : "";
  showSource({ state, ui, editor }, scene.file);
  const sameFile = scene.callFile === scene.file;
  const lines = {
    running: scene.line ? scene.line - 1 : null,
    call: scene.callLine && sameFile && scene.callLine !== scene.line ? scene.callLine - 1 : null,
  };
  for (const [kind, style] of [["running", "running-line"], ["call", "call-line"]]) {
    const had = marked[kind]; // the line handle marked, which follows its line as code is edited
    if ((had === null ? null : editor.getLineNumber(had)) === lines[kind]) { continue; }
    if (had !== null) { editor.removeLineClass(had, "background", style); }
    marked[kind] = lines[kind] === null ? null
      : editor.addLineClass(lines[kind], "background", style);
  }
}

// The editor shows the file the frame's line is in: the recorded code, or another of the user's
// files it called (a run recorded in process brings their text, `sources`), read-only, named
// above it. The recorded code comes back before anything else uses the editor (main.js).
function showSource({ state, ui, editor }, file) {
  const sources = state.doc?.sources ?? {};
  const shown = file !== null && Object.hasOwn(sources, file) ? file : null;
  if (shown === state.shownFile) { return; }
  if (state.shownFile === null) { state.recordedCode = editor.getValue(); }
  editor.setValue(shown === null ? state.recordedCode : sources[shown]);
  editor.setOption("readOnly", shown !== null);
  state.shownFile = shown;
  ui["source-file"].textContent = shown === null ? "" : `${shown} (called from the recorded code)`;
  ui["source-file"].hidden = shown === null;
  marked.running = marked.call = null; // the text was replaced, and its marks with it
}

export function showRecordedCode(app) {
  showSource(app, null);
}

// The recorded code, whichever file the editor shows.
export function recordedCode({ state, editor }) {
  return state.shownFile === null ? editor.getValue() : state.recordedCode;
}

// The minimap shows while some of the graph is out of view.
export function renderMinimap({ state, ui }, graph) {
  const [width, height] = [ui.canvas.clientWidth, ui.canvas.clientHeight];
  const show = Boolean(state.view) && overflows(graph.nodes, state.view, width, height);
  ui.minimap.classList.toggle("hidden", !show);
  if (show) {
    const style = getComputedStyle(ui.minimap);
    state.minimapView = drawMinimap(ui.minimap, graph.nodes, state.view, width, height,
                                    style.getPropertyValue("--muted").trim(),
                                    style.getPropertyValue("--accent").trim());
  }
}

export function renderInspector(app, scene) {
  const { state, ui } = app;
  const doc = state.doc;
  const picked = {
    node: state.graph && state.graph.byId.get(state.selected),
    variable: doc.variables.find((v) => v.name === state.selectedName),
  };
  const wanted = new Map();
  const { html, glyphs } = inspectorHtml({
    doc, scene, selectedName: state.selectedName, lineText: (n) => editorLine(app.editor, n),
    node: wholeSaved(state.details, picked.node, wanted), variable: picked.variable,
    whole: (summary) => wholeSummary(state.details, summary, wanted),
  });
  askForDetails(app, wanted);
  ui.inspector.innerHTML = html; // inspectorHtml escapes every value from the trace
  const ink = getComputedStyle(ui.inspector).getPropertyValue("--muted").trim();
  ui.inspector.querySelectorAll("canvas.glyph").forEach((canvas, i) => {
    const ratio = window.devicePixelRatio || 1;
    canvas.width = canvas.clientWidth * ratio;
    canvas.height = canvas.clientHeight * ratio;
    const ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    drawGlyph(ctx, glyphs[i], 1, 1, canvas.clientWidth - 2, canvas.clientHeight - 2, ink);
  });
}

// Once per run and value shown, ask the server for what it kept; the inspector shows the
// statistics and the preview meanwhile, and is drawn again with each reply.
function askForDetails(app, wanted) {
  const { state } = app;
  const details = state.details;
  for (const [key, request] of wanted) {
    details.set(key, { error: "asking the server" });
    app.request("inspect", request, (reply) => {
      details.set(key, reply && typeof reply === "object" ? reply : { error: "no reply" });
      if (state.details === details) { state.inspected = null; app.render(); }
    });
  }
}

// The editor's line n (from 1), or "" when a trace names a line the editor does not have.
const editorLine = (editor, n) => (Number.isInteger(n) && n >= 1 && n <= editor.lineCount()
  ? editor.getLine(n - 1) : "");

// The panels' own controls: the pass picker, a click on the loss chart, a row of the inspector.
export function wirePanels(app) {
  const { state, ui } = app;
  const seekPass = (index) => {
    const at = state.frames.findIndex((f) => f.kind === "pass" && f.pass === index);
    if (at >= 0) { app.act((p) => seek(p, at))(); }
  };
  ui.passes.addEventListener("change", () => seekPass(Number(ui.passes.value)));
  // A click on the loss chart goes to the kept pass nearest the point clicked.
  ui.losses.addEventListener("click", (e) => {
    const total = lossesOf(state).total;
    const along = (e.offsetX - 2) / (ui.losses.clientWidth - 4); // as drawLosses places points
    const clicked = Math.round(Math.min(Math.max(along, 0), 1) * (total - 1));
    const kept = state.doc.passes.map((p) => p.index);
    if (!kept.length) { return; }
    const nearest = kept.reduce((a, b) => (Math.abs(b - clicked) < Math.abs(a - clicked) ? b : a));
    ui.passes.value = String(nearest);
    seekPass(nearest);
  });
  ui.inspector.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-node]");
    if (row) {
      app.userActed();
      state.selected = row.dataset.node === "null" ? null : Number(row.dataset.node);
      state.selectedName = row.dataset.name;
      app.render();
    }
  });
}
