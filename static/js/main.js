// Boot: the only module that finds elements on the page. It wires the editor, the socket, the
// player loop and the panels to the pure modules (protocol, timeline, player, scene, view,
// inspector, address, limits).

import { io } from "../vendor/socket.io-client/socket.io.esm.min.js";
import {
  codeFromHash, codeFromSharedHash, SHARED, sessionToken, sharedHash, withoutToken,
} from "./address.js";
import { boxWidth, draw, lastCuts, setPresenting, textWidth } from "./canvas.js";
import { captionAt } from "./captions.js";
import { download, exportFrame, pngBlob, standaloneHtml, svgText } from "./exports.js";
import { cutBoxes, cutMarks, placeCuts } from "./cuts.js";
import { wholeSaved, wholeSummary } from "./details.js";
import { foldGraph, isPlumbing } from "./fold.js";
import { drawGlyph } from "./glyphs.js";
import { inspectorHtml } from "./inspector.js";
import { anyOf, collapsedPaths, groupFace, groupsAround, viewGraph } from "./groups.js";
import { iterationGraph, iterationNodes, iterations } from "./iteration.js";
import { codeSizeProblem } from "./limits.js";
import { problemItems } from "./problems.js";
import { drawMinimap, overflows } from "./minimap.js";
import * as player from "./player.js";
import { applyEvent, document as docOf, emptyRun } from "./protocol.js";
import { compactValue, nodeFace, sceneAt, shortValue } from "./scene.js";
import { searchHits } from "./search.js";
import { backwardStart, buildTimeline, passOfFrame, printedBy } from "./timeline.js";
import {
  centreOn, fitLayers, fitView, hitTest, nodeBox, onScreen, pan, toWorld, zoomAt,
} from "./view.js";

// The token leaves the address bar at once (it would be shared with a copied link or kept in
// history); the tab keeps it for reloads. Other parameters and the fragment (the code) stay.
const token = sessionToken(location.search, sessionStorage);
history.replaceState(null, "",
                     `${location.pathname}${withoutToken(location.search)}${location.hash}`);
const NO_TOKEN = "no token: open the URL that gradtrace printed, with its ?token=";
const UNREADABLE_CODE = "the code in the address could not be read and was ignored";

const $ = (id) => window.document.querySelector(`[data-testid="${id}"]`);
const ui = {};
for (const id of ["editor", "run", "stop", "status", "examples", "device", "play", "step-back",
                  "step-forward", "jump-forward", "jump-backward", "timeline", "speed", "frame",
                  "canvas", "inspector", "problems", "output", "empty", "theme", "passes",
                  "losses", "internals", "present", "try-seed", "search", "zoom-in",
                  "zoom-out", "fit", "minimap", "expand-all", "collapse-all", "caption",
                  "pause-each", "share", "share-link", "run-shared", "export", "export-menu",
                  "export-whole", "export-png", "export-svg", "export-json", "export-html"]) {
  ui[id] = $(id);
}

const state = {
  run: emptyRun(), doc: null, frames: [], player: player.createPlayer(0), internals: false,
  view: null, viewTouched: false, dirty: false, // dirty: draw on the next animation frame
  selected: null, selectedName: null, errorLines: [],
  // caches, each with the key it was made for
  graph: null, graphKey: null, scene: null, sceneKey: null, inspected: null,
  details: new Map(), // the run's large values the server sent when asked: key -> reply
  minimapView: null, // the minimap's own view of the graph, when it shows
  passShown: undefined, // the pass the picker and the loss chart show (showPass)
  zoomedAt: 0, // when the wheel last zoomed, while it is still turning (ZOOM_SETTLES)
  followed: null, // presenter mode: the frame whose running node the view last followed
  // The server's view layout (views.py) for a graph: {graph, reply}; `collapsed`: the paths the
  // user chose to collapse, or null for the opening view.
  layout: { graph: null, reply: null }, collapsed: null,
};

const editor = window.CodeMirror(ui.editor, {
  mode: "python", lineNumbers: true, indentUnit: 4,
  extraKeys: { "Ctrl-Enter": () => run(), "Cmd-Enter": () => run() },
});
const sharedLink = location.hash.startsWith(SHARED);
const codeInAddress = sharedLink ? "" : codeFromHash(location.hash);
editor.setValue(codeInAddress || "");
editor.on("change", () => history.replaceState(null, "", `#${encodeURIComponent(editor.getValue())}`));

const params = new URLSearchParams(location.search);
// Presenter mode zooms the fitted view by this much, so that text, edge labels and pulses are
// that much larger (canvas.js), and follows the running node when it leaves the view.
const PRESENT_ZOOM = 1.5;
const presenting = () => window.document.body.classList.contains("present");
const setPresent = (on) => {
  window.document.body.classList.toggle("present", on);
  setPresenting(on);
  ui.present.classList.toggle("on", on);
  state.view = null; // refit: the canvas changed size
  render();
};
ui.present.addEventListener("click",
                            () => setPresent(!window.document.body.classList.contains("present")));
// A standalone file (the "Standalone HTML" export) holds its run and has no server: it replays
// that run, and every request is answered "offline" (a big graph is then drawn whole).
const saved = window.document.getElementById("gradtrace-trace");
const offline = saved ? JSON.parse(saved.textContent) : null;
const offlineSocket = {
  on() {},
  emit(name, payload, reply) { if (typeof reply === "function") { reply({ error: "offline" }); } },
};
// Without a token the server would refuse us, so do not knock: say where the token is.
const socket = offline ? offlineSocket
  : io({ transports: ["websocket"], auth: { token }, autoConnect: Boolean(token) });
socket.on("trace", (batch) => {
  batch.forEach((e) => applyEvent(state.run, e));
  if (batch.some((e) => e.type === "graph")) { performance.mark("gradtrace:graph"); } // bench
  refresh();
});
socket.on("connect_error", (err) => setStatus(`cannot connect: ${err.message}`, true));
socket.on("disconnect", () => { // no reply will come to what was asked
  window.gradtrace.layouts -= asking.busy ? 1 : 0;
  Object.assign(asking, { busy: false, next: null });
});

for (const device of (window.document.body.dataset.devices || "cpu").split(",")) {
  ui.device.add(new Option(device, device));
}
const examples = offline ? Promise.resolve([]) : fetch("/api/examples").then((r) => r.json());
examples.then((list) => {
  for (const ex of list) { ui.examples.add(new Option(`${ex.name} — ${ex.title}`, ex.code)); }
});
ui["try-seed"].addEventListener("click", async () => {
  const seed = (await examples).find((ex) => ex.name === ui["try-seed"].dataset.example);
  editor.setValue(seed.code);
  run();
});
ui.examples.addEventListener("change", () => {
  if (ui.examples.value) { editor.setValue(ui.examples.value); }
});

function run() {
  const refusal = !token ? NO_TOKEN : codeSizeProblem(editor.getValue());
  if (refusal) { // not sent: the last run stays on screen and Run stays usable
    setStatus(refusal, true);
    return;
  }
  ui.empty.classList.remove("shared");
  performance.clearMarks();
  performance.mark("gradtrace:run"); // bench/page.py measures Run -> first frame with these marks
  state.painted = false;
  state.run = emptyRun();
  state.run.status = "starting";
  state.view = null;
  state.viewTouched = false;
  state.selected = null;
  state.selectedName = null;
  state.details = new Map();
  state.collapsed = null;
  socket.emit("run", { code: editor.getValue(), device: ui.device.value });
  refresh();
}

ui.run.addEventListener("click", run);
ui.stop.addEventListener("click", () => socket.emit("stop"));
ui.internals.addEventListener("click", () => {
  state.internals = !state.internals;
  ui.internals.textContent = state.internals ? "Internals" : "Teaching";
  state.view = null; // the two views lay out differently
  render();
});
// The theme: the one last chosen here, else the system's preference.
const setTheme = (theme) => {
  window.document.documentElement.dataset.theme = theme;
  localStorage.setItem("gradtrace-theme", theme);
  state.dirty = true; // the canvas reads its colours from the theme
};
setTheme(localStorage.getItem("gradtrace-theme")
         || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
ui.theme.addEventListener("click", () => {
  setTheme(window.document.documentElement.dataset.theme === "dark" ? "light" : "dark");
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
  renderProblems();
  renderPasses();
  ui.timeline.max = Math.max(state.frames.length - 1, 0);
  const drawnCuts = cutMarks(state.doc, new Map()).length; // a leaf in no graph, cut: drawn
  ui.empty.classList.toggle("hidden", state.doc.graph.nodes.length + drawnCuts > 0 || busy);
  ui.empty.classList.toggle("after-run", run.status !== "idle" && !busy);
  render();
}

function renderProblems() {
  ui.problems.replaceChildren();
  for (const [line, where, cls] of state.errorLines) { editor.removeLineClass(line, where, cls); }
  state.errorLines = [];
  const { error, warnings, notes } = problemItems(state.doc);
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
    li.addEventListener("click", () => showProblem(item));
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
  if (notes.length) { // notes stay folded, and leave the editor alone
    const li = window.document.createElement("li");
    const details = window.document.createElement("details");
    const summary = window.document.createElement("summary");
    summary.textContent = `${notes.length} note${notes.length === 1 ? "" : "s"}`;
    const list = window.document.createElement("ul");
    list.append(...notes.map((item) => entry(item, "")));
    details.append(summary, list);
    li.className = "notes";
    li.append(details);
    ui.problems.append(li);
  }
}

// A problem clicked: its cause's line in the editor, its variable in the inspector, and on the
// graph the cut made on that line (marked, and brought into view) or else the variable's node.
function showProblem(item) {
  const line = item.causeLine || item.line;
  if (line) { editor.setCursor({ line: line - 1, ch: 0 }); editor.focus(); }
  const cuts = state.graph ? state.graph.cuts : [];
  const cut = cuts.find((c) => line && c.line === line);
  cuts.forEach((c) => { c.focused = c === cut; });
  const target = cut ? cut.box : item.node !== null && state.graph.byId.get(item.node);
  if (target) {
    moveView(centreOn(state.view || fitView(state.graph.nodes, ui.canvas.clientWidth,
                                            ui.canvas.clientHeight),
                      target, ui.canvas.clientWidth, ui.canvas.clientHeight));
  }
  state.selected = item.node;
  state.selectedName = item.variable;
  render();
}

// A standalone file's run, as if its events had just arrived; the controls that need a server
// are off.
function replaySaved({ document: doc, prints, code }) {
  editor.setValue(code || "");
  state.run = { ...emptyRun(), doc: { ...doc, passes: [] }, prints: prints || [], status: "ok",
                passes: new Map(doc.passes.map((p) => [p.index, p])) };
  for (const id of ["run", "stop", "device", "examples", "share", "export"]) {
    ui[id].disabled = true;
  }
  state.busy = true; // so that refresh() shows the whole run, as a finished run does
  refresh();
  ui.run.disabled = true;
  setStatus("a saved run, replayed with no server");
}

// The pass list (kept passes) and, for loops, the loss of every pass as a sparkline.
function renderPasses() {
  const doc = state.doc;
  const options = doc.passes.map((p) => new Option(
    `pass ${p.index} · line ${p.line}${p.loss === null ? "" : ` · loss ${shortValue({ values: [p.loss] })}`}`,
    String(p.index)));
  ui.passes.replaceChildren(...(doc.passes.length > 1 ? options : []));
  state.passShown = undefined; // drawn again with the frame's pass marked (showPass)
}

// The pass picker and the loss chart follow the player: both show the pass of the frame.
function showPass(pass) {
  if (pass === state.passShown) { return; }
  state.passShown = pass;
  if (pass !== null && ui.passes.options.length) { ui.passes.value = String(pass); }
  drawLosses(ui.losses, state.doc.pass_log, state.doc.pass_log.total > 1, pass);
}

const seekPass = (index) => {
  const at = state.frames.findIndex((f) => f.kind === "pass" && f.pass === index);
  if (at >= 0) { act((p) => player.seek(p, at))(); }
};
ui.passes.addEventListener("change", () => seekPass(Number(ui.passes.value)));
// A click on the loss chart goes to the kept pass nearest the point clicked.
ui.losses.addEventListener("click", (e) => {
  const total = state.doc.pass_log.total;
  const along = (e.offsetX - 2) / (ui.losses.clientWidth - 4); // as drawLosses places points
  const clicked = Math.round(Math.min(Math.max(along, 0), 1) * (total - 1));
  const kept = state.doc.passes.map((p) => p.index);
  if (!kept.length) { return; }
  const nearest = kept.reduce((a, b) => (Math.abs(b - clicked) < Math.abs(a - clicked) ? b : a));
  ui.passes.value = String(nearest);
  seekPass(nearest);
});

// The loss of every pass as a line, the pass `current` marked with a dot.
function drawLosses(canvas, log, show, current) {
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
  const x = (i) => (i / (values.length - 1)) * (w - 4) + 2;
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

// The graph as drawn: folded in the teaching view; for a loop, the iteration of the pass the
// player is on (iteration.js); each node as wide as its text needs and the layers spaced to
// match. Rebuilt only when the graph, the timeline, the view kind or the iteration changes.
const measure = window.document.createElement("canvas").getContext("2d");
function drawnGraph() {
  const doc = state.doc;
  const pass = shownPass();
  const current = state.layout.graph === doc.graph && state.layout.pass === pass;
  const reply = current ? state.layout.reply : null;
  const key = [doc.graph, state.frames, state.internals, pass, reply, state.layout.failed];
  if (!state.graphKey || key.some((part, i) => part !== state.graphKey[i])) {
    if (!current) { askForLayout(state.collapsed); }
    // A big graph waits for its view (drawing it whole first would only delay that); a small
    // one, or one whose view failed, shows whole meanwhile.
    const waiting = !reply && !state.layout.failed && doc.graph.nodes.length > WAIT_FOR_VIEW;
    const viewed = viewGraph(waiting ? { nodes: [], edges: [] } : doc.graph, reply);
    const whole = state.internals ? viewed : foldGraph(viewed, explained(doc));
    const base = pass === null || reply ? whole : iterationGraph(whole, iterations(doc).get(pass));
    const end = sceneAt(doc, state.frames, state.frames.length - 1); // leaves' final .grad
    const nodes = fitLayers(base.nodes, (n) => (n.members
      ? boxWidth(measure, groupFace(n, null))
      : textWidth(measure, n, [nodeFace(n, null), nodeFace(n, end), ...accumulating(n, end)])));
    const labels = new Map(viewed.groups.map((g) => [g.path, g.label]));
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const cuts = placeCuts(cutMarks(doc, byId), nodes, byId);
    state.graph = { nodes, edges: base.edges, byId, labels, reply, cuts };
    state.graphKey = key;
    if (!state.viewTouched) { state.view = null; } // keep fitting the growing graph until moved
  }
  return state.graph;
}

// A leaf's face while its .grad arrives, `grad None → 5` (or `grad 5 → 10`): its box is made
// that wide, so the new value is never cut off as it lands.
function accumulating(node, end) {
  if (node.kind !== "leaf" || !end.leafGrads.has(node.id)) { return []; }
  const grad = end.leafGrads.get(node.id);
  const after = compactValue(grad);
  const before = after.length > 4 ? after : "None";
  return [{ title: node.label, detail: `grad ${before} → ${after}`, glyph: grad }];
}

// The nodes of the variables the doctor diagnosed: the teaching view never folds them away.
const explained = (doc) => new Set(doc.diagnostics.map((d) => {
  const variable = doc.variables.find((v) => v.name === d.variable);
  return variable ? variable.node : null;
}).filter((id) => id !== null && id !== undefined));

const WAIT_FOR_VIEW = 500; // nodes: a graph this big is drawn only once its view has come
const LEGIBLE_LAYER_PX = 90; // a layer of the graph, fitted with its text at least 9 px

// Ask the server to lay the graph out with `collapsed` groups (null: as it opens). The server
// makes one layout at a time for a client, so one request is in flight at a time here: a newer
// one waits, and replaces any that waited before it; the reply to a request that has a newer
// one behind it is dropped. A reply replaces the view only while it is still for the graph on
// screen; `then` runs after it.
const asking = { busy: false, next: null };
function askForLayout(collapsed, then = () => {}, opened = null) {
  const doc = state.doc;
  const graph = doc.graph;
  const pass = shownPass();
  const same = state.layout.graph === graph && state.layout.pass === pass;
  state.layout = { graph, pass, reply: same ? state.layout.reply : null };
  if (!graph.nodes.length) { return; }
  const nodes = pass === null ? null : iterationNodes(graph, iterations(doc).get(pass));
  // how many layers fit side by side with their text legible: the opening view fits them
  const layers = collapsed === null
    ? Math.max(Math.floor(ui.canvas.clientWidth / LEGIBLE_LAYER_PX), 4) : null;
  const ask = { graph, pass, then, request: { collapsed, nodes, opened, layers } };
  if (asking.busy) { asking.next = ask; } else { sendLayout(ask); }
}

function sendLayout(ask) {
  asking.busy = true;
  window.gradtrace.layouts += 1;
  socket.emit("layout", ask.request, (reply) => {
    asking.busy = false;
    const next = asking.next;
    asking.next = null;
    if (next) { sendLayout(next); }
    window.gradtrace.layouts -= 1;
    if (!next) { applyLayout(ask, reply); }
  });
}

function applyLayout({ graph, pass, then }, reply) {
  if (state.doc.graph !== graph || state.layout.pass !== pass) { return; }
  if (!reply || reply.error || reply.nodes !== graph.nodes.length) {
    state.layout = { ...state.layout, failed: true }; // show what it can without one
    render();
    return;
  }
  state.layout = { graph, pass, reply };
  render();
  then();
  window.gradtrace.views += 1;
  performance.mark("gradtrace:view"); // bench/page.py: Run or a click -> the view drawn
}

// The pass whose iteration the canvas shows: in a loop, the one the player is on.
const shownPass = () => (state.doc.passes.length > 1
  ? passOfFrame(state.doc, state.frames[player.currentFrame(state.player)]) : null);

// Open or close a group in place: the view stays, so what comes before the group in the graph
// stays where it was, and what comes after makes room.
function toggleGroup(path, open) {
  const reply = state.graph && state.graph.reply;
  if (!reply) { return; }
  const shut = new Set(collapsedPaths(reply));
  if (open) {
    shut.delete(path);
  } else {
    for (const inner of [...shut]) { if (inner.startsWith(`${path}.`)) { shut.delete(inner); } }
    shut.add(path);
  }
  state.viewTouched = true; // no refit
  state.collapsed = [...shut];
  performance.mark("gradtrace:toggle");
  askForLayout(state.collapsed, () => {
    state.collapsed = collapsedPaths(state.layout.reply); // what it opened with stays so
  }, open ? path : null);
}

// The minimap shows while some of the graph is out of view.
function renderMinimap(graph) {
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

let runningLine = null;
let callLine = null; // during backward, the backward call's line, in a softer colour
function render() {
  const doc = state.doc;
  if (!doc) { return; }
  const frameIndex = player.currentFrame(state.player);
  const sceneKey = [doc, state.frames, frameIndex];
  if (!state.sceneKey || sceneKey.some((part, i) => part !== state.sceneKey[i])) {
    state.scene = sceneAt(doc, state.frames, frameIndex); // panning keeps the frame's scene
    state.sceneKey = sceneKey;
  }
  const scene = state.scene;
  const graph = drawnGraph();
  const shapes = graph.nodes.length + graph.cuts.length;
  const [width, height] = [ui.canvas.clientWidth, ui.canvas.clientHeight];
  if (!state.view && shapes) {
    state.view = fitView([...graph.nodes, ...cutBoxes(graph.cuts)], width, height);
    if (presenting()) { state.view = zoomAt(state.view, PRESENT_ZOOM, width / 2, height / 2); }
  }
  if (presenting() && state.view && state.followed !== frameIndex) { // the camera follows
    state.followed = frameIndex;
    const running = [...scene.active].map((id) => graph.byId.get(id)).find(Boolean);
    if (running && !onScreen(state.view, nodeBox(running), width, height, true)) {
      state.view = centreOn(state.view, running, width, height, state.view.scale);
    }
  }
  if (!shapes) { // nothing (yet) to show: no picture left over from the last run
    ui.canvas.getContext("2d").clearRect(0, 0, ui.canvas.width, ui.canvas.height);
    window.gradtrace.drawn = [];
  } else if (state.view) {
    window.gradtrace.drawn = draw(ui.canvas, graph, scene, state.view, state.selected,
                                  state.internals,
                                  state.player.playing ? player.frameProgress(state.player) : 1,
                                  state.zoomedAt > 0);
    window.gradtrace.cuts = lastCuts();
    if (!state.painted) { state.painted = true; performance.mark("gradtrace:first-frame"); }
  }
  renderMinimap(graph);
  ui.timeline.value = frameIndex;
  ui.play.textContent = state.player.playing ? "❚❚" : "▶";
  const frame = state.frames[frameIndex];
  showPass(passOfFrame(doc, frame));
  ui.frame.textContent = frame
    ? `${frameIndex + 1}/${state.frames.length} · ${frame.kind}${frame.kind === "forward" ? "" : ` (pass ${frame.pass})`}`
    : "";
  if (runningLine !== null) { editor.removeLineClass(runningLine, "background", "running-line"); }
  if (callLine !== null) { editor.removeLineClass(callLine, "background", "call-line"); }
  runningLine = scene.line ? scene.line - 1 : null;
  callLine = scene.callLine && scene.callLine !== scene.line ? scene.callLine - 1 : null;
  if (runningLine !== null) { editor.addLineClass(runningLine, "background", "running-line"); }
  if (callLine !== null) { editor.addLineClass(callLine, "background", "call-line"); }
  const caption = captionAt(doc, state.frames, frameIndex);
  if (ui.caption.textContent !== caption) { ui.caption.textContent = caption; }
  const printed = printedBy(state.frames, state.run.prints, frameIndex, doc.stdout);
  if (ui.output.textContent !== printed) { ui.output.textContent = printed; }
  const inspected = [doc, frameIndex, state.selected, state.selectedName, state.graph];
  if (!state.inspected || inspected.some((part, i) => part !== state.inspected[i])) {
    state.inspected = inspected; // panning and zooming leave the panel alone
    renderInspector(scene);
  }
}

function renderInspector(scene) {
  const doc = state.doc;
  const picked = {
    node: state.graph && state.graph.byId.get(state.selected),
    variable: doc.variables.find((v) => v.name === state.selectedName),
  };
  const wanted = new Map();
  const { html, glyphs } = inspectorHtml({
    doc, scene, selectedName: state.selectedName, lineText: editorLine,
    node: wholeSaved(state.details, picked.node, wanted), variable: picked.variable,
    whole: (summary) => wholeSummary(state.details, summary, wanted),
  });
  askForDetails(wanted);
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
function askForDetails(wanted) {
  const details = state.details;
  for (const [key, request] of wanted) {
    details.set(key, { error: "asking the server" });
    socket.emit("inspect", request, (reply) => {
      details.set(key, reply && typeof reply === "object" ? reply : { error: "no reply" });
      if (state.details === details) { state.inspected = null; render(); }
    });
  }
}

// The editor's line n (from 1), or "" when a trace names a line the editor does not have.
const editorLine = (n) => (Number.isInteger(n) && n >= 1 && n <= editor.lineCount()
  ? editor.getLine(n - 1) : "");

ui.inspector.addEventListener("click", (event) => {
  const row = event.target.closest("tr[data-node]");
  if (row) {
    state.selected = row.dataset.node === "null" ? null : Number(row.dataset.node);
    state.selectedName = row.dataset.name;
    render();
  }
});

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
  // The editor and the inputs type; space on a focused button presses it (on Run it runs, it
  // does not play).
  const typing = ".CodeMirror, input, select";
  const own = event.target.closest
    && event.target.closest(event.key === " " ? `${typing}, button, summary` : typing);
  if (own) { return; }
  const keys = { " ": (p) => (p.playing ? player.pause(p) : player.play(p)),
                 ArrowRight: player.stepForward, ArrowLeft: player.stepBack,
                 Home: (p) => player.seek(p, 0), End: (p) => player.seek(p, p.frames - 1) };
  if (keys[event.key]) { event.preventDefault(); act(keys[event.key])(); }
});

// A wheel zoom draws a scaled copy of the last picture far away (canvas.js) until the wheel has
// been still this long (ms); then the picture is drawn exactly.
const ZOOM_SETTLES = 120;
let last = performance.now();
function tick(now) {
  const dt = (now - last) / 1000;
  last = now;
  if (state.zoomedAt && now - state.zoomedAt > ZOOM_SETTLES) { // the exact picture, at rest
    state.zoomedAt = 0;
    state.dirty = true;
  }
  const playing = state.player.playing; // the frame that ends playback is drawn too
  if (playing && ui["pause-each"].checked) { // a teacher's pace: each node waits for a key
    state.player = player.advanceStopping(state.player, dt,
                                          (f) => state.frames[f].kind === "backward");
  } else if (playing) { state.player = player.advance(state.player, dt); }
  if (playing || state.dirty) { state.dirty = false; render(); }
  requestAnimationFrame(tick);
}
requestAnimationFrame(tick);

// A node picked on the canvas or in Problems; the inspector follows, naming its variable if any.
function select(nodeId) {
  state.selected = nodeId;
  const variable = state.doc.variables.find((v) => v.node === nodeId && nodeId !== null);
  state.selectedName = variable ? variable.name : null;
  render();
}

// Canvas: drag to pan, wheel or pinch to zoom, double-click to fit, click to select. Moves only
// mark the view dirty; the animation loop draws once per frame however many events arrive.
// Moves and releases are followed on the window, so a drag may leave the canvas.
const pointers = new Map(); // pointerId -> last position on the canvas, while pressed
let pressedAt = null;
let moved = false; // further than a click's jitter from where the press began
const at = (e) => {
  const rect = ui.canvas.getBoundingClientRect();
  return { x: e.clientX - rect.left, y: e.clientY - rect.top };
};
const spread = () => {
  const [a, b] = [...pointers.values()];
  return { d: Math.hypot(a.x - b.x, a.y - b.y), x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
};
const moveView = (view) => {
  state.view = view;
  state.viewTouched = true;
  state.dirty = true;
};
ui.canvas.addEventListener("pointerdown", (e) => {
  pointers.set(e.pointerId, at(e));
  pressedAt = at(e);
  moved = pointers.size > 1;
});
window.addEventListener("pointermove", (e) => {
  if (!pointers.has(e.pointerId) || !state.view) { return; }
  const before = pointers.size === 2 ? spread() : null;
  const last = pointers.get(e.pointerId);
  const now = at(e);
  pointers.set(e.pointerId, now);
  if (now.x === last.x && now.y === last.y) { return; }
  moved = moved || Math.hypot(now.x - pressedAt.x, now.y - pressedAt.y) > 4;
  if (before) { // pinch: zoom about the fingers' midpoint, and follow it
    const after = spread();
    moveView(pan(zoomAt(state.view, after.d / (before.d || 1), before.x, before.y),
                 after.x - before.x, after.y - before.y));
  } else if (pointers.size === 1) {
    moveView(pan(state.view, now.x - last.x, now.y - last.y));
  }
});
const release = (e) => {
  if (!pointers.has(e.pointerId)) { return; }
  if (pointers.size === 1 && !moved && state.view && state.graph && e.type === "pointerup") {
    const visible = state.scene.visible;
    const p = at(e);
    const hit = hitTest(state.graph.nodes.filter((n) => anyOf(visible, n)), state.view, p.x, p.y);
    const band = window.gradtrace.drawn.find((d) => d.open && p.x >= d.x && p.x <= d.x + d.w
                                             && p.y >= d.y && p.y <= d.y + d.band);
    if (typeof hit === "string") { toggleGroup(hit.slice("group:".length), true); }
    else if (hit === null && band) { toggleGroup(band.id, false); }
    else { select(hit); }
  }
  pointers.delete(e.pointerId);
};
window.addEventListener("pointerup", release);
window.addEventListener("pointercancel", release);
ui.canvas.addEventListener("wheel", (e) => {
  if (!state.view) { return; }
  e.preventDefault();
  const p = at(e);
  state.zoomedAt = performance.now();
  moveView(zoomAt(state.view, Math.exp(-e.deltaY * 0.0015), p.x, p.y));
}, { passive: false });
const fitAll = () => {
  state.view = null;
  state.viewTouched = false;
  render();
};
ui.canvas.addEventListener("dblclick", fitAll);
ui.fit.addEventListener("click", fitAll);
const zoomBy = (factor) => {
  if (state.view) {
    moveView(zoomAt(state.view, factor, ui.canvas.clientWidth / 2, ui.canvas.clientHeight / 2));
  }
};
ui["zoom-in"].addEventListener("click", () => zoomBy(1.25));
ui["zoom-out"].addEventListener("click", () => zoomBy(0.8));
const collapseTo = (collapsed) => {
  state.collapsed = collapsed;
  state.view = null; // the picture changes as a whole: fit it
  state.viewTouched = false;
  if (state.doc) { askForLayout(collapsed); }
};
ui["expand-all"].addEventListener("click", () => collapseTo([]));
ui["collapse-all"].addEventListener("click", () => {
  const reply = state.graph && state.graph.reply;
  if (reply) { collapseTo(reply.groups.filter(([, parent]) => parent < 0).map(([path]) => path)); }
});
ui.minimap.addEventListener("pointerdown", (e) => {
  if (!state.view || !state.minimapView) { return; }
  const rect = ui.minimap.getBoundingClientRect();
  const world = toWorld(state.minimapView, e.clientX - rect.left, e.clientY - rect.top);
  moveView(centreOn(state.view, world, ui.canvas.clientWidth, ui.canvas.clientHeight, 0));
});

// Search: typing centres on the best hit, Enter goes on to the next. It searches the whole
// graph: a hit not drawn at this frame takes the player to where it is, the end, or in a loop
// the pass of the iteration that holds it.
const search = { query: null, key: null, hits: [], at: -1 };
function findNext(next) {
  const doc = state.doc;
  if (!state.graph || !doc) { return; }
  const key = [doc.graph, state.internals];
  if (!next || search.query !== ui.search.value || key.some((k, i) => k !== search.key[i])) {
    search.query = ui.search.value;
    search.key = key; // a new run, or the other view: its own hits
    const nodes = state.internals ? doc.graph.nodes : doc.graph.nodes.filter((n) => !isPlumbing(n));
    search.hits = searchHits(nodes, doc.variables, search.query);
    search.at = -1;
  }
  ui.search.classList.toggle("missed", search.query.trim() !== "" && !search.hits.length);
  if (!search.hits.length) { return; }
  search.at = (search.at + 1) % search.hits.length;
  const id = search.hits[search.at];
  if (!state.graph.byId.has(id) || !state.scene.visible.has(id)) {
    const loop = doc.passes.length > 1
      ? [...iterations(doc)].find(([, iteration]) => iteration.shown.has(id)) : null;
    const at = loop ? state.frames.findIndex((f) => f.kind === "pass" && f.pass === loop[0])
      : state.frames.length - 1;
    state.player = player.seek(state.player, at);
    render(); // the scene and graph of that frame
  }
  const reply = state.graph.reply;
  const index = reply ? reply.ids.indexOf(id) : -1;
  const around = index >= 0 ? groupsAround(reply, index) : [];
  const shut = reply ? collapsedPaths(reply) : [];
  if (around.some((path) => shut.includes(path))) { // hidden in a box: open what hides it
    state.collapsed = shut.filter((path) => !around.includes(path));
    askForLayout(state.collapsed, () => centreOnNode(id));
  } else {
    centreOnNode(id);
  }
}
function centreOnNode(id) {
  const node = state.graph.byId.get(id);
  if (!node) { return; }
  moveView(centreOn(state.view || fitView(state.graph.nodes, ui.canvas.clientWidth,
                                          ui.canvas.clientHeight),
                    node, ui.canvas.clientWidth, ui.canvas.clientHeight));
  select(node.id);
}
ui.search.addEventListener("input", () => findNext(false));
ui.search.addEventListener("keydown", (e) => {
  if (e.key === "Enter") { e.preventDefault(); findNext(true); }
});
window.addEventListener("resize", () => render());

// For tests and the curious: what the last frame drew (screen boxes and texts of visible nodes).
// `layouts`: the view layouts asked for and not answered yet; `views`: how many were drawn;
// `cuts`: the places drawn where a value left the graph (canvas.js drawCut).
window.gradtrace = { drawn: [], layouts: 0, views: 0, cuts: [] };
setPresent(params.has("present"));
const bootNotices = offline ? [] // a saved run: nothing to connect to
  : [codeInAddress === null && UNREADABLE_CODE, !token && NO_TOKEN].filter(Boolean);
if (offline) { replaySaved(offline); }
if (sharedLink) { // the code, and a button: a link never runs code by itself
  codeFromSharedHash(location.hash).then((code) => {
    if (code === null) { setStatus(UNREADABLE_CODE, true); return; }
    editor.setValue(code);
    ui.empty.classList.add("shared");
  });
}
ui["run-shared"].addEventListener("click", () => run());
ui.export.addEventListener("click", () => ui["export-menu"].classList.toggle("hidden"));
// What an export pictures: the graph and frame on screen, as drawn.
const picture = () => ({ graph: state.graph, scene: state.scene, selected: state.selected,
                         internals: state.internals });
const exported = (make) => async () => {
  ui["export-menu"].classList.add("hidden");
  if (!state.doc || !state.graph) { setStatus("nothing to export yet: run some code", true); return; }
  try { await make(); } catch (err) { setStatus(`export failed: ${err.message}`, true); }
  state.dirty = true; // the screen's own picture again
};
ui["export-png"].addEventListener("click", exported(async () => {
  const frame = exportFrame(ui.canvas, state.graph, state.view, ui["export-whole"].checked);
  download("gradtrace-graph.png", await pngBlob(ui.canvas, picture(), frame));
}));
ui["export-svg"].addEventListener("click", exported(async () => {
  const frame = exportFrame(ui.canvas, state.graph, state.view, ui["export-whole"].checked, true);
  download("gradtrace-graph.svg", new Blob([svgText(ui.canvas, picture(), frame)],
                                           { type: "image/svg+xml" }));
}));
ui["export-json"].addEventListener("click", exported(async () => {
  download("gradtrace-trace.json", new Blob([JSON.stringify(state.doc, null, 1)],
                                            { type: "application/json" }));
}));
ui["export-html"].addEventListener("click", exported(async () => {
  const page = await standaloneHtml(state.doc, state.run.prints, editor.getValue());
  download("gradtrace-run.html", new Blob([page], { type: "text/html" }));
}));
ui.share.addEventListener("click", async () => { // the link, shown and copied; no token in it
  const link = `${location.origin}${location.pathname}${withoutToken(location.search)}`
    + await sharedHash(editor.getValue());
  ui["share-link"].value = link;
  ui["share-link"].classList.remove("hidden");
  ui["share-link"].select();
  navigator.clipboard?.writeText(link).catch(() => {}); // refused over plain http: it shows
});
if (bootNotices.length) { setStatus(bootNotices.join("; "), true); }
