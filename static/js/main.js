// Boot: the only module that finds elements on the page. It wires the editor, the socket, the
// player loop and the panels to the pure modules (protocol, timeline, player, scene, view).

import { io } from "../vendor/socket.io-client/socket.io.esm.min.js";
import { draw } from "./canvas.js";
import { foldGraph } from "./fold.js";
import * as player from "./player.js";
import { applyEvent, document as docOf, emptyRun } from "./protocol.js";
import { sceneAt, shortValue } from "./scene.js";
import { backwardStart, buildTimeline } from "./timeline.js";
import { fitView, hitTest, pan, zoomAt } from "./view.js";

const $ = (id) => window.document.querySelector(`[data-testid="${id}"]`);
const ui = {};
for (const id of ["editor", "run", "stop", "status", "examples", "device", "play", "step-back",
                  "step-forward", "jump-forward", "jump-backward", "timeline", "speed", "frame",
                  "canvas", "inspector", "problems", "output", "empty", "theme", "passes",
                  "losses", "internals"]) {
  ui[id] = $(id);
}

const state = { run: emptyRun(), doc: null, frames: [], player: player.createPlayer(0),
                view: null, selected: null, errorLines: [], internals: false };

const editor = window.CodeMirror(ui.editor, {
  mode: "python", lineNumbers: true, indentUnit: 4,
  extraKeys: { "Ctrl-Enter": () => run(), "Cmd-Enter": () => run() },
});
editor.setValue(decodeURIComponent(location.hash.slice(1)) || "");
editor.on("change", () => history.replaceState(null, "", `#${encodeURIComponent(editor.getValue())}`));

const params = new URLSearchParams(location.search);
if (params.has("present")) { window.document.body.classList.add("present"); }
const socket = io({ transports: ["websocket"], auth: { token: params.get("token") } });
socket.on("trace", (batch) => { batch.forEach((e) => applyEvent(state.run, e)); refresh(); });
socket.on("connect_error", (err) => setStatus(`cannot connect: ${err.message}`, true));

for (const device of (window.document.body.dataset.devices || "cpu").split(",")) {
  ui.device.add(new Option(device, device));
}
fetch("/api/examples").then((r) => r.json()).then((examples) => {
  for (const ex of examples) { ui.examples.add(new Option(`${ex.name} — ${ex.title}`, ex.code)); }
});
ui.examples.addEventListener("change", () => {
  if (ui.examples.value) { editor.setValue(ui.examples.value); }
});

function run() {
  performance.clearMarks();
  performance.mark("gradtrace:run"); // bench/page.py measures Run -> first frame with these marks
  state.painted = false;
  state.run = emptyRun();
  state.run.status = "starting";
  state.view = null;
  state.selected = null;
  socket.emit("run", { code: editor.getValue(), device: ui.device.value });
  refresh();
}

ui.run.addEventListener("click", run);
ui.stop.addEventListener("click", () => socket.emit("stop"));
ui.internals.addEventListener("click", () => {
  state.internals = !state.internals;
  ui.internals.textContent = state.internals ? "Internals" : "Teaching";
  render();
});
ui.theme.addEventListener("click", () => {
  const root = window.document.documentElement;
  root.dataset.theme = root.dataset.theme === "dark" ? "light" : "dark";
});

function setStatus(text, isError = false) {
  ui.status.textContent = text;
  ui.status.classList.toggle("error", isError);
}

// New events arrived: rebuild the timeline; the player keeps its place.
function refresh() {
  const run = state.run;
  state.doc = docOf(run);
  state.frames = buildTimeline(state.doc);
  state.player = { ...state.player, frames: state.frames.length };
  const busy = ["starting", "queued", "running"].includes(run.status);
  if (state.busy && !busy) { // finished: show the whole story; Home or Play replays it
    state.player = player.seek(state.player, state.frames.length - 1);
  }
  state.busy = busy;
  ui.run.disabled = busy;
  ui.stop.disabled = !busy;
  if (run.status === "queued") { setStatus(`queued: position ${run.queuePosition}`); }
  else if (busy) { setStatus("running"); }
  else if (run.status === "idle") { setStatus(run.notices.at(-1) || "ready", run.notices.length > 0); }
  else if (state.doc.error) { setStatus(`done in ${run.durationMs} ms, with an error`, true); }
  else { setStatus(run.status === "ok" ? "done" : run.status); }
  ui.output.textContent = state.doc.stdout;
  renderProblems();
  renderPasses();
  ui.timeline.max = Math.max(state.frames.length - 1, 0);
  ui.empty.classList.toggle("hidden", state.doc.graph.nodes.length > 0 || busy);
  render();
}

function renderProblems() {
  ui.problems.replaceChildren();
  for (const line of state.errorLines) { editor.removeLineClass(line, "background", "error-line"); }
  state.errorLines = [];
  const items = [];
  if (state.doc.error) {
    const e = state.doc.error;
    items.push({ line: e.line, text: `${e.type} [${e.code}]: ${e.message}`, error: true });
  }
  for (const d of state.doc.diagnostics) {
    const variable = state.doc.variables.find((v) => v.name === d.variable);
    items.push({ line: d.line, text: `${d.variable}: [${d.code}] ${d.message}`, error: false,
                 node: variable ? variable.node : null });
  }
  for (const item of items) {
    const li = window.document.createElement("li");
    li.textContent = `${item.line ? `line ${item.line}: ` : ""}${item.text}`;
    li.classList.toggle("error", item.error);
    li.addEventListener("click", () => {
      if (item.line) { editor.setCursor({ line: item.line - 1, ch: 0 }); editor.focus(); }
      if (item.node !== undefined && item.node !== null) { state.selected = item.node; render(); }
    });
    ui.problems.append(li);
    if (item.line && item.error) {
      state.errorLines.push(editor.addLineClass(item.line - 1, "background", "error-line"));
    }
  }
}

// The pass list (kept passes) and, for loops, the loss of every pass as a sparkline.
function renderPasses() {
  const doc = state.doc;
  const options = doc.passes.map((p) => new Option(
    `pass ${p.index} · line ${p.line}${p.loss === null ? "" : ` · loss ${shortValue({ values: [p.loss] })}`}`,
    String(p.index)));
  ui.passes.replaceChildren(...(doc.passes.length > 1 ? options : []));
  drawLosses(ui.losses, doc.pass_log, doc.pass_log.total > 1);
}

ui.passes.addEventListener("change", () => {
  const at = state.frames.findIndex((f) => f.kind === "pass" && f.pass === Number(ui.passes.value));
  if (at >= 0) { act((p) => player.seek(p, at))(); }
});

function drawLosses(canvas, log, show) {
  if (!show) { return; }
  const ratio = window.devicePixelRatio || 1;
  canvas.width = canvas.clientWidth * ratio;
  canvas.height = canvas.clientHeight * ratio;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const values = log.losses.map((v) => (typeof v === "number" ? v : null));
  const known = values.filter((v) => v !== null);
  if (known.length < 2) { return; }
  const [lo, hi] = [Math.min(...known), Math.max(...known)];
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  ctx.strokeStyle = getComputedStyle(canvas).getPropertyValue("--grad");
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  values.forEach((v, i) => {
    if (v === null) { return; }
    const x = (i / (values.length - 1)) * (w - 4) + 2;
    const y = h - 3 - ((v - lo) / (hi - lo || 1)) * (h - 6);
    if (i === 0) { ctx.moveTo(x, y); } else { ctx.lineTo(x, y); }
  });
  ctx.stroke();
}

let runningLine = null;
function render() {
  const doc = state.doc;
  if (!doc) { return; }
  const frameIndex = player.currentFrame(state.player);
  const scene = sceneAt(doc, state.frames, frameIndex);
  if (!state.view && doc.graph.nodes.length) {
    state.view = fitView(doc.graph.nodes, ui.canvas.clientWidth, ui.canvas.clientHeight);
  }
  if (state.view) {
    const graph = state.internals ? doc.graph : foldGraph(doc.graph);
    draw(ui.canvas, graph, scene, state.view, state.selected, state.internals,
         state.player.playing ? player.frameProgress(state.player) : 1);
    if (!state.painted) { state.painted = true; performance.mark("gradtrace:first-frame"); }
  }
  ui.timeline.value = frameIndex;
  ui.play.textContent = state.player.playing ? "❚❚" : "▶";
  const frame = state.frames[frameIndex];
  ui.frame.textContent = frame
    ? `${frameIndex + 1}/${state.frames.length} · ${frame.kind}${frame.kind === "forward" ? "" : ` (pass ${frame.pass})`}`
    : "";
  if (runningLine !== null) { editor.removeLineClass(runningLine, "background", "running-line"); }
  runningLine = scene.line ? scene.line - 1 : null;
  if (runningLine !== null) { editor.addLineClass(runningLine, "background", "running-line"); }
  renderInspector(scene);
}

function renderInspector(scene) {
  const doc = state.doc;
  const rows = doc.variables.map((v) => {
    const grad = v.node !== null && scene.leafGrads.has(v.node) ? scene.leafGrads.get(v.node)
      : scene.atEnd ? v.grad : null; // at the end: .grad as the run left it
    const chosen = v.node !== null && v.node === state.selected;
    return `<tr data-node="${v.node}" class="${chosen ? "selected" : ""}">
      <td>${escape(v.name)}</td><td>line ${v.line ?? "—"}</td>
      <td>${escape(`${v.dtype}[${v.shape.join("×")}]`)}</td>
      <td>${escape(shortValue(v.value, 6))}</td><td>grad ${escape(shortValue(grad, 6))}</td></tr>`;
  });
  const node = doc.graph.nodes.find((n) => n.id === state.selected);
  const detail = node ? nodeDetail(node, scene) : "";
  ui.inspector.innerHTML = `${detail}<table><tr><th>variable</th><th>line</th><th>type</th>
    <th>value</th><th>grad</th></tr>${rows.join("")}</table>`;
}

// A selected node: what made it, its value, its saved tensors, and the gradients it passed on.
function nodeDetail(node, scene) {
  const stats = (s) => (s && s.mean !== undefined && s.mean !== null
    ? ` <span class="summary">min ${shortValue({ values: [s.min] })} · max ${shortValue({ values: [s.max] })}`
      + ` · mean ${shortValue({ values: [s.mean] })} · norm ${shortValue({ values: [s.norm] })}</span>`
    : "");
  const value = node.values && node.values[0];
  const saved = (node.saved || []).map((e) => `${escape(e.name)}${e.same_as
    ? ` (step ${e.same_as.step})` : `: ${escape(shortValue(e.value && typeof e.value === "object"
      ? e.value : { values: [e.value] }))}`}`);
  const pass = state.doc.passes.find((p) => p.index === scene.pass);
  const ran = pass && pass.steps.find((s) => s.node === node.id);
  return `<p><b>${escape(node.label)}</b> · ${escape(node.op)} · ${escape(node.name)}
      · line ${node.line ?? "—"}${node.module ? ` · ${escape(node.module)}` : ""}</p>
    <p>value ${escape(shortValue(value, 8))}${stats(value)}</p>
    ${saved.length ? `<p>saved: ${saved.join(", ")}</p>` : ""}
    ${ran ? `<p>grad in ${escape(ran.grad_in.map((g) => shortValue(g, 6)).join(", "))}
      → out ${escape(ran.grad_out.map((g) => shortValue(g, 6)).join(", ") || "—")}</p>` : ""}`;
}

ui.inspector.addEventListener("click", (event) => {
  const row = event.target.closest("tr[data-node]");
  if (row && row.dataset.node !== "null") {
    state.selected = Number(row.dataset.node);
    render();
  }
});

function escape(text) {
  return String(text).replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
                                                    '"': "&quot;" })[ch]);
}

// Player controls: client-side only; the server is never asked.
const act = (fn) => () => { state.player = fn(state.player); render(); };
ui.play.addEventListener("click", act((p) => (p.playing ? player.pause(p) : player.play(p))));
ui["step-forward"].addEventListener("click", act(player.stepForward));
ui["step-back"].addEventListener("click", act(player.stepBack));
ui["jump-forward"].addEventListener("click", act((p) => player.seek(p, 0)));
ui["jump-backward"].addEventListener("click",
                                     act((p) => player.seek(p, backwardStart(state.frames))));
ui.timeline.addEventListener("input", act((p) => player.seek(p, Number(ui.timeline.value))));
ui.speed.addEventListener("change", act((p) => player.setSpeed(p, Number(ui.speed.value))));
window.addEventListener("keydown", (event) => {
  if (event.target.closest && event.target.closest(".CodeMirror")) { return; }
  const keys = { " ": (p) => (p.playing ? player.pause(p) : player.play(p)),
                 ArrowRight: player.stepForward, ArrowLeft: player.stepBack,
                 Home: (p) => player.seek(p, 0), End: (p) => player.seek(p, p.frames - 1) };
  if (keys[event.key]) { event.preventDefault(); act(keys[event.key])(); }
});

let last = performance.now();
function tick(now) {
  const dt = (now - last) / 1000;
  last = now;
  if (state.player.playing) { state.player = player.advance(state.player, dt); render(); }
  requestAnimationFrame(tick);
}
requestAnimationFrame(tick);

// Canvas: drag to pan, wheel to zoom, double-click to fit, click to select.
let drag = null;
ui.canvas.addEventListener("pointerdown", (e) => { drag = { x: e.offsetX, y: e.offsetY, moved: false }; });
ui.canvas.addEventListener("pointermove", (e) => {
  if (!drag || !state.view) { return; }
  state.view = pan(state.view, e.offsetX - drag.x, e.offsetY - drag.y);
  drag = { x: e.offsetX, y: e.offsetY, moved: true };
  render();
});
ui.canvas.addEventListener("pointerup", (e) => {
  if (drag && !drag.moved && state.view && state.doc) {
    state.selected = hitTest(state.doc.graph.nodes, state.view, e.offsetX, e.offsetY);
    render();
  }
  drag = null;
});
ui.canvas.addEventListener("wheel", (e) => {
  if (!state.view) { return; }
  e.preventDefault();
  state.view = zoomAt(state.view, Math.exp(-e.deltaY * 0.0015), e.offsetX, e.offsetY);
  render();
}, { passive: false });
ui.canvas.addEventListener("dblclick", () => { state.view = null; render(); });
window.addEventListener("resize", () => render());
