// The host: the only module that finds elements on the page. It owns the editor, the socket,
// the run, the state and the animation loop, and hands the rest an `app` ({state, ui, editor,
// request, render, act, moveView, setStatus, ...}): graphview.js prepares the graph, camera.js
// aims the view, panels.js draws the panels, input.js turns input into view changes, exports.js
// exports and shares, sync.js joins a classroom.

import { io } from "../vendor/socket.io-client/socket.io.esm.min.js";
import {
  codeFromHash, codeFromSharedHash, SHARED, sessionToken, withoutToken,
} from "./address.js";
import { aim } from "./camera.js";
import { draw, lastCuts, lastEdges, setPresenting } from "./canvas.js";
import { captionAt } from "./captions.js";
import { cutMarks } from "./cuts.js";
import { wireExports } from "./exports.js";
import { followedStep } from "./following.js";
import { drawnGraph } from "./graphview.js";
import { showDevices, wireCanvas, wireChoices, wirePlayer } from "./input.js";
import { connectionNotice, LOST_RUN, wireConnection } from "./connection.js";
import { codeSizeProblem } from "./limits.js";
import { createPacer } from "./pacer.js";
import { blamesPasses, passesProblem, runPayload, wirePasses } from "./passes.js";
import {
  renderFrame, renderInspector, renderMinimap, renderPasses, renderProblems, showPass,
  showRecordedCode, wirePanels,
} from "./panels.js";
import * as player from "./player.js";
import { createProgress, noteEvent, progressText, setupText } from "./progress.js";
import { applyEvent, document as docOf, emptyRun } from "./protocol.js";
import { wireOpenTrace } from "./opentrace.js";
import { sceneAt } from "./scene.js";
import { localStore, replaceAddress, sessionStore } from "./storage.js";
import { afterRender, leaveSync, wireClassroom } from "./sync.js";
import { buildTimeline, livePosition, passOfFrame, printedBy } from "./timeline.js";
import { centreOn, fitView } from "./view.js";

// The token leaves the address bar at once (it would be shared with a copied link or kept in
// history); the tab keeps it for reloads. Other parameters and the fragment (the code) stay.
const token = sessionToken(location.search, sessionStore);
replaceAddress(`${location.pathname}${withoutToken(location.search)}${location.hash}`);
const NO_TOKEN = "no token: open the URL that gradtrace printed, with its ?token=";
// A saved run runs nothing; a page with no token, unless it is a classroom's, is refused
const mayRun = () => !offline && Boolean(token || state.room.id);
const UNREADABLE_CODE = "the code in the address could not be read and was ignored";

const $ = (id) => window.document.querySelector(`[data-testid="${id}"]`);
const ui = {};
for (const id of ["editor", "run", "stop", "status", "examples", "device", "play", "step-back",
                  "step-forward", "jump-forward", "jump-backward", "timeline", "speed", "frame",
                  "canvas", "inspector", "problems", "output", "empty", "theme", "passes",
                  "losses", "internals", "present", "try-seed", "search", "zoom-in",
                  "zoom-out", "fit", "minimap", "expand-all", "collapse-all", "depth", "direction",
                  "caption", "pause-each", "share", "share-link", "run-shared", "export",
                  "export-menu", "export-whole", "export-png", "export-svg", "export-json",
                  "export-html", "follow", "room-info", "allow-runs", "room-qr", "progress",
                  "keep-passes", "open-trace", "open-trace-file", "source-file", "share-run",
                  "run-setup", "seeded"]) {
  ui[id] = $(id);
}

const state = {
  run: emptyRun(), doc: null, frames: [], player: player.createPlayer(0), internals: false,
  docOf: null, // [run, changes]: what `doc` and `frames` were made from (refresh)
  progress: createProgress(0), // passes, loss and time while a run goes (progress.js)
  playerTouched: false, // the user moved the player during this run: it stays where they put it
  view: null, viewTouched: false, dirty: false, // dirty: draw on the next animation frame
  direction: "auto", // the graph drawn across, down, or by the pane's shape (orient.js)
  presenterView: null, // a classroom presenter's last view (sync.js)
  selected: null, selectedName: null, errorLines: [],
  shownFile: null, recordedCode: "", // another of the user's files in the editor (panels.js)
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
  asking: { busy: false, next: null }, // the view layout asked for, and the one waiting
  // A classroom (sync.js): the room in the address, this page's role in it, and its sync.
  room: { id: new URLSearchParams(location.search).get("room"), role: null, watching: 0,
          following: true, last: null },
};

const editor = window.CodeMirror(ui.editor, {
  mode: "python", lineNumbers: true, indentUnit: 4,
  extraKeys: { "Ctrl-Enter": () => run(), "Cmd-Enter": () => run() },
});
const sharedLink = location.hash.startsWith(SHARED);
const codeInAddress = sharedLink ? "" : codeFromHash(location.hash);
editor.setValue(codeInAddress || "");
editor.on("change", () => {
  replaceAddress(`#${encodeURIComponent(editor.getValue())}`);
  if (state.room.role === "presenter") { afterRender(app); } // the class sees the code typed
});

const params = new URLSearchParams(location.search);
// Presenter mode: larger text (canvas.js) and a camera that zooms and follows (camera.js).
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
// What the other modules (graphview, panels, input) are given: the state, the page's elements,
// and the host's few verbs. They share nothing else.
const app = {
  state, ui, editor,
  // (an absent reply is left out, not sent as null: a handler takes only what is sent). The
  // server knows nothing of a saved run opened here: its questions are answered "offline", as
  // a standalone file's are, and its graph drawn whole. Answered after the render that asked,
  // as a server's answers are: a big graph is then laid out and drawn once, not thrice.
  request: (name, payload, reply) => (state.run.saved && reply
    ? queueMicrotask(() => reply({ error: "offline" }))
    : reply ? socket.emit(name, payload, reply) : socket.emit(name, payload)),
  render: () => render(),
  // a change of the player by the user, then the frame drawn
  act: (change) => () => {
    leaveSync(app);
    state.playerTouched = true;
    state.player = change(state.player);
    render();
  },
  setStatus: (text, isError) => setStatus(text, isError),
  moveView: (view) => { // the view moved by the user: no refit, drawn on the next frame
    leaveSync(app);
    state.view = view;
    state.viewTouched = true;
    state.dirty = true;
  },
  userActed: () => leaveSync(app), // a selection of the user's own: a viewer stops following
  // a node (or a cut's box) brought to the centre of the view, fitting the graph first if needed
  centreOnBox: (box) => app.moveView(centreOn(
    state.view || fitView(state.graph.nodes, ui.canvas.clientWidth, ui.canvas.clientHeight),
    box, ui.canvas.clientWidth, ui.canvas.clientHeight)),
  startRun: () => { startRun(); refresh(); },
  run: () => run(),
  refresh: () => refresh(),
};

// A standalone file (the "Standalone HTML" export) holds its run and has no server: it replays
// that run, and every request is answered "offline" (a big graph is then drawn whole).
const saved = window.document.getElementById("gradtrace-trace");
const offline = saved ? JSON.parse(saved.textContent) : null;
const offlineSocket = {
  on() {},
  emit(name, payload, reply) { if (typeof reply === "function") { reply({ error: "offline" }); } },
};
// Without a token the server would refuse us, so do not knock: say where the token is. The
// token (or the room's id) goes in the handshake's query too: the server checks it there, before
// it makes any session for us (guard.SocketGate).
const credentials = Object.fromEntries(Object.entries({ token, room: state.room.id })
  .filter(([, value]) => typeof value === "string" && value));
const socket = offline ? offlineSocket
  : io({ transports: ["websocket"], auth: credentials, query: credentials,
         autoConnect: Boolean(token || state.room.id) });
// A batch of events is applied at once, at a cost in proportion to the batch; what the page
// shows of them (refresh: the timeline, the panels, the picture) follows at most every
// REFRESH_EVERY ms, and at once for what changes the run's status, and for its first picture.
const REFRESH_EVERY = 200;
const pacer = createPacer(() => refresh(), REFRESH_EVERY);
const QUIET = new Set(["progress", "end"]); // events that leave the document as it was
const AT_ONCE = new Set(["start", "done", "error", "queued", "rejected"]);
socket.on("trace", (batch) => {
  const run = state.run;
  let urgent = false;
  for (const event of batch) {
    applyEvent(run, event);
    noteEvent(state.progress, event);
    if (!QUIET.has(event.type)) { run.changes = (run.changes || 0) + 1; }
    urgent ||= AT_ONCE.has(event.type) || firstPicture(event);
  }
  if (batch.some((e) => e.type === "graph")) { performance.mark("gradtrace:graph"); } // bench
  if (urgent) { pacer.now(); } else { pacer.soon(); }
  const refused = batch.filter((e) => e.type === "rejected").at(-1);
  if (refused) { setStatus(refused.message, true); } // whatever the run shows, say why
  if (refused && blamesPasses(refused.message)) { keepPassesField.flag(true); }
});
// A WebSocket handshake the server refused tells the script nothing. The same request as a
// plain GET gets the server's reason (guard.SocketGate): a token that is not valid, say.
async function whyRefused(err) {
  try {
    const query = new URLSearchParams({ EIO: "4", transport: "websocket", ...credentials });
    const answer = await fetch(`/socket.io/?${query}`);
    if (answer.status === 401) {
      return (await answer.text()).replace("gradtrace refused this request: ", "").trim();
    }
  } catch { /* the server is not there: what the socket said is all there is */ }
  return err.message;
}

// The run's first graph, and its first pass, are shown as soon as they come.
const firstPicture = (event) => (event.type === "graph" || event.type === "backward")
  && !(state.doc && state.doc.passes.length && state.doc.graph.nodes.length);
socket.on("capabilities", (report) => showDevices(ui.device, report));
socket.on("connect_error", async (err) => setStatus(`cannot connect: ${await whyRefused(err)}`,
                                                    true));
socket.on("disconnect", () => { // no reply will come to what was asked
  window.gradtrace.layouts -= state.asking.busy ? 1 : 0;
  Object.assign(state.asking, { busy: false, next: null });
});
wireConnection(app, socket);

wireChoices(app, offline ? Promise.resolve([]) : fetch("/api/examples").then((r) => r.json()));
// Which passes of a loop to keep in full, kept for the tab; sent only when not the default.
const keepPassesField = wirePasses(ui["keep-passes"], sessionStore);
const runRequest = () => runPayload(editor.getValue(), ui.device.value, ui["keep-passes"].value,
                                    ui.seeded.checked);

function run() {
  showRecordedCode(app); // the code that runs is the recorded code, not a file it called
  const viewer = state.room.role === "viewer";
  const refusal = !token && !viewer ? NO_TOKEN
    : codeSizeProblem(editor.getValue()) || passesProblem(ui["keep-passes"].value);
  if (refusal) { // not sent: the last run stays on screen and Run stays usable
    setStatus(refusal, true);
    return;
  }
  if (viewer && !state.room.allowRuns) { // the server refuses it, and says why
    socket.emit("run", runRequest());
    return;
  }
  startRun();
  socket.emit("run", runRequest());
  refresh();
}

// A run begins on this page: the last one's view, selection and values go.
function startRun() {
  showRecordedCode(app);
  ui.empty.classList.remove("shared");
  performance.clearMarks();
  performance.mark("gradtrace:run"); // bench/page.py measures Run -> first frame with these marks
  state.painted = false;
  state.run = emptyRun();
  state.run.status = "starting";
  state.progress = createProgress(performance.now());
  // nothing of the last run stays: its player's place, its pictures, its layouts
  state.player = player.createPlayer(0);
  state.playerTouched = false;
  Object.assign(state, { graph: null, graphKey: null, scene: null, sceneKey: null,
                         inspected: null, passShown: undefined, followed: null });
  state.layout = { graph: null, reply: null };
  state.asking.next = null; // a layout still waiting was for the last run's graph
  state.view = null;
  state.viewTouched = false;
  state.selected = null;
  state.selectedName = null;
  state.details = new Map();
  state.collapsed = null;
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
  localStore.setItem("gradtrace-theme", theme);
  state.dirty = true; // the canvas reads its colours from the theme
};
setTheme(localStore.getItem("gradtrace-theme")
         || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
ui.theme.addEventListener("click", () => {
  setTheme(window.document.documentElement.dataset.theme === "dark" ? "light" : "dark");
});

function setStatus(text, isError = false) {
  ui.status.textContent = text;
  ui.status.classList.toggle("error", isError);
}

// New events arrived: the document and its timeline are made again when the events changed
// them; the player keeps its place, or while a run goes shows its first pass (livePosition)
// until the user moves it. When only the progress moved, only it and the loss chart are drawn.
function refresh() {
  const run = state.run;
  const [wasBusy, wasAt] = [state.busy, player.currentFrame(state.player)];
  const changed = !state.docOf || state.docOf[0] !== run || state.docOf[1] !== run.changes;
  if (changed) {
    state.docOf = [run, run.changes];
    state.doc = docOf(run);
    state.frames = buildTimeline(state.doc);
    state.player = { ...state.player, frames: state.frames.length };
  }
  const busy = ["starting", "queued", "running"].includes(run.status);
  const followed = followedStep(state);
  if (followed !== null) { // a viewer who follows stays at the presenter's step
    state.player = player.seek(state.player, followed);
  } else if (busy && !state.playerTouched) { // the first picture, as soon as it comes
    state.player = player.seek(state.player, livePosition(state.frames));
  } else if (state.busy && !busy && run.status !== "lost") { // finished: show the whole story;
    state.player = player.seek(state.player, state.frames.length - 1); // Home or Play replays it
  } // (a run cut short keeps its first picture: its later iterations' nodes never came)
  state.busy = busy;
  ui.run.disabled = busy || !mayRun();
  ui.stop.disabled = !busy;
  showStatus(run, busy);
  showProgress();
  if (changed) {
    renderProblems(app);
    renderPasses(app);
    ui.timeline.max = Math.max(state.frames.length - 1, 0);
    const drawnCuts = cutMarks(state.doc, new Map()).length; // a leaf in no graph, cut: drawn
    state.blank = state.doc.graph.nodes.length + drawnCuts === 0;
  }
  const over = !busy && !["idle", "lost"].includes(run.status);
  ui.empty.classList.toggle("hidden", !state.blank || busy || run.status === "lost");
  ui.empty.classList.toggle("after-run", over);
  if (changed || busy !== wasBusy || player.currentFrame(state.player) !== wasAt) { render(); }
  else { showPass(app, passOfFrame(state.doc, state.frames[wasAt])); }
}

function showStatus(run, busy) {
  const notice = connectionNotice(state.connection, run);
  ui.status.title = run.status === "lost" ? LOST_RUN : "";
  if (notice) { setStatus(notice, true); }
  else if (run.status === "queued") { setStatus(`queued: position ${run.queuePosition}`); }
  else if (busy) { setStatus("running"); }
  else if (run.status === "idle") { setStatus(run.notices.at(-1) || "ready", run.notices.length > 0); }
  else if (state.doc.error) { setStatus(`done in ${run.durationMs} ms, with an error`, true); }
  else { setStatus(run.status === "ok" ? "done" : run.status); }
}

// Passes done, the latest loss and the time since Run, while a run goes (and a loop's totals
// after it); the clock moves on between events too.
function showProgress() {
  const text = progressText(state.progress, performance.now(), state.busy);
  if (ui.progress.textContent !== text) { ui.progress.textContent = text; }
  ui.progress.hidden = !text;
}
setInterval(() => { if (state.busy) { showProgress(); } }, 250);

// A saved run (a standalone file's, or a trace JSON opened), as if its events had just
// arrived and it had finished.
function showSaved({ document: doc, prints, code }, status) {
  startRun();
  editor.setValue(code || "");
  state.run = { ...emptyRun(), doc: { ...doc, passes: [] }, prints: prints || [], status: "ok",
                passes: new Map(doc.passes.map((p) => [p.index, p])), saved: true };
  state.busy = true; // so that refresh() shows the whole run, as a finished run does
  refresh();
  setStatus(status);
}

// A standalone file's run: the controls that need a server are off.
function replaySaved(saved) {
  showSaved(saved, "a saved run, replayed with no server");
  for (const id of ["run", "stop", "device", "keep-passes", "seeded", "examples", "share",
                    "export", "open-trace"]) {
    ui[id].disabled = true;
  }
}

// How far down the canvas its tools (search, zoom, Fit, ...) reach: a fitted view starts below.
const tools = window.document.querySelector(".canvas-tools");
const toolsCover = () => Math.max(tools.getBoundingClientRect().bottom
  - ui.canvas.getBoundingClientRect().top, 0);

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
  const graph = drawnGraph(app);
  const shapes = graph.nodes.length + graph.cuts.length;
  aim(state, graph, scene, frameIndex, ui.canvas.clientWidth, ui.canvas.clientHeight,
      presenting(), state.view ? 0 : toolsCover());
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
  renderMinimap(app, graph);
  showPass(app, passOfFrame(doc, state.frames[frameIndex]));
  renderFrame(app, frameIndex, scene);
  const caption = captionAt(doc, state.frames, frameIndex);
  if (ui.caption.textContent !== caption) { ui.caption.textContent = caption; }
  const printed = printedBy(state.frames, state.run.prints, frameIndex, doc.stdout);
  if (ui.output.textContent !== printed) { ui.output.textContent = printed; }
  const setup = state.run.status === "idle" ? "" : setupText(doc);
  if (ui["run-setup"].textContent !== setup) { ui["run-setup"].textContent = setup; }
  const inspected = [doc, frameIndex, state.selected, state.selectedName, state.graph];
  if (!state.inspected || inspected.some((part, i) => part !== state.inspected[i])) {
    state.inspected = inspected; // panning and zooming leave the panel alone
    renderInspector(app, scene);
  }
  afterRender(app);
}

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

wirePanels(app);
wirePlayer(app);
wireCanvas(app);
if (state.room.id && !offline) { wireClassroom(app, socket); }

// For tests and the curious: what the last frame drew (screen boxes and texts of visible nodes).
// `layouts`: the view layouts asked for and not answered yet; `views`: how many were drawn;
// `cuts`: the places drawn where a value left the graph (canvas.js drawCut); `edges`: the edges
// drawn near, as points along each (canvas.js).
window.gradtrace = { drawn: [], layouts: 0, views: 0, cuts: [],
                     get edges() { return lastEdges(); } }; // points made only when read
setPresent(params.has("present"));
const bootNotices = offline ? [] // a saved run: nothing to connect to
  : [codeInAddress === null && UNREADABLE_CODE, !token && !state.room.id && NO_TOKEN]
    .filter(Boolean);
if (offline) { replaySaved(offline); }
if (!offline && !mayRun()) { // nothing here may run: say so, and offer no Run that cannot
  ui.empty.classList.add("no-token");
  ui.run.disabled = true;
  ui.run.title = NO_TOKEN;
}
if (sharedLink) { // the code, and a button: a link never runs code by itself
  codeFromSharedHash(location.hash).then((code) => {
    if (code === null) { setStatus(UNREADABLE_CODE, true); return; }
    editor.setValue(code);
    ui.empty.classList.add("shared");
  });
}
ui["run-shared"].addEventListener("click", () => run());
wireOpenTrace(ui["open-trace-file"], ui["open-trace"], (doc, name) => {
  showSaved({ document: doc, prints: [], code: `# ${name}: a saved trace. Its code is not saved `
              + "with it: its steps name the lines of the code that made it.\n" },
            `opened ${name}`);
}, (problem) => setStatus(problem, true));
wireExports(app);
if (bootNotices.length) { setStatus(bootNotices.join("; "), true); }
