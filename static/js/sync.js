// The classroom's page side: the view state as a value (code, step, selection, groups, view),
// sent by the presenter as it changes and applied by viewers who follow. A viewer who pans,
// selects or steps leaves sync; "Follow presenter" (`follow`) brings it back to the latest state.
// `app`: {state, ui, editor, request(...), render(), startRun()}.

import { askForLayout } from "./graphview.js";
import { collapsedPaths } from "./groups.js";
import { currentFrame, seek } from "./player.js";
import { toWorld } from "./view.js";

const SEND_EVERY = 40; // ms: the presenter's changes go out at most this often (and the last one)

// What a viewer needs to see what the presenter sees. The view is sent as the world point at
// the centre of the canvas, the scale and the canvas's size, so that a screen of another size
// shows the same region, centred and fitted.
function viewStateOf({ state, ui, editor }) {
  const view = state.view;
  const centre = view ? toWorld(view, ui.canvas.clientWidth / 2, ui.canvas.clientHeight / 2)
    : null;
  return {
    code: editor.getValue(),
    step: currentFrame(state.player),
    selected: typeof state.selected === "number" ? state.selected : null,
    selected_name: state.selectedName ?? null,
    collapsed: shownGroups(state),
    view: centre ? { cx: centre.x, cy: centre.y, scale: view.scale, w: ui.canvas.clientWidth,
                     h: ui.canvas.clientHeight, down: Boolean(state.graph && state.graph.down) }
      : null,
    internals: state.internals,
  };
}

// The groups the presenter sees collapsed. Before anyone folds or opens one, the page shows the
// graph as it opens, which depends on the canvas's width: a viewer's narrower screen would fold
// more. So the presenter sends the groups its opening view folded, not "as it opens".
function shownGroups(state) {
  if (state.collapsed !== null) { return state.collapsed; }
  const reply = state.layout.graph === state.doc?.graph ? state.layout.reply : null;
  return reply ? collapsedPaths(reply) : null;
}

// The presenter's state, made the page's own.
function applyViewState(app, s) {
  const { state, ui, editor } = app;
  if (editor.getValue() !== s.code) { editor.setValue(s.code); }
  if (s.internals !== state.internals) {
    state.internals = s.internals;
    ui.internals.textContent = state.internals ? "Internals" : "Teaching";
  }
  state.player = seek({ ...state.player, playing: false }, s.step);
  state.selected = s.selected;
  state.selectedName = s.selected_name;
  if (JSON.stringify(s.collapsed) !== JSON.stringify(state.collapsed)) {
    state.collapsed = s.collapsed;
    if (state.doc && state.doc.graph.nodes.length) { askForLayout(app, s.collapsed); }
  }
  if (s.view && state.room.role === "presenter") { // its own view, back after a reload
    const { scale, cx, cy } = s.view;
    state.view = { scale, tx: ui.canvas.clientWidth / 2 - cx * scale,
                   ty: ui.canvas.clientHeight / 2 - cy * scale };
    state.viewTouched = true;
  } else if (s.view) { // framed anew (following.js) whenever the graph or the canvas changes
    state.presenterView = s.view;
    state.view = null;
    state.viewTouched = false;
  }
  app.render();
}

// Joins the room named in the address: the server says whether this page leads or watches.
export function wireClassroom(app, socket) {
  const { state, ui } = app;
  const room = state.room;
  socket.on("connect", () => socket.emit("welcome"));
  socket.on("room", (info) => {
    // the QR code and viewer link come once, when this page is welcomed; counts come often
    Object.assign(room, { role: info.role, watching: info.watching, allowRuns: info.allow_runs,
                          qr: info.qr ?? room.qr ?? null,
                          viewerLink: info.viewer_link ?? room.viewerLink ?? null });
    showRoom(app);
  });
  socket.on("room_run", () => app.startRun()); // the presenter ran code: its run, from the start
  socket.on("sync", (s) => {
    room.last = s;
    // a viewer who follows takes it; a presenter only while it is welcomed back after a reload
    if ((room.role === "viewer" && room.following) || (room.role === "presenter" && !room.ready)) {
      applyViewState(app, s);
    }
  });
  socket.on("welcomed", () => { room.ready = true; });
  ui["allow-runs"].addEventListener("change", () => {
    socket.emit("allow_runs", { allow: ui["allow-runs"].checked });
  });
  ui.follow.addEventListener("click", () => {
    room.following = true;
    showRoom(app);
    if (room.last) { applyViewState(app, room.last); }
  });
}

// After each frame drawn, a presenter sends its view state if it changed: at most every
// SEND_EVERY ms, and always the last change.
export function afterRender(app) {
  const room = app.state.room;
  if (room.role !== "presenter" || !room.ready) { return; }
  if (JSON.stringify(viewStateOf(app)) === room.sent || room.timer) { return; }
  room.timer = setTimeout(() => {
    room.timer = null;
    const latest = JSON.stringify(viewStateOf(app));
    if (latest !== room.sent) { room.sent = latest; app.request("sync", JSON.parse(latest)); }
  }, SEND_EVERY);
}

// A viewer went its own way (panned, selected, stepped): it stops following until it asks.
export function leaveSync(app) {
  const room = app.state.room;
  if (room.role === "viewer" && room.following) {
    room.following = false;
    showRoom(app);
  }
}

function showRoom({ state, ui }) {
  const room = state.room;
  const viewer = room.role === "viewer";
  ui.follow.classList.toggle("hidden", !viewer || room.following);
  ui["room-info"].textContent = `${viewer ? "watching the presenter" : "presenting"} · `
    + `${room.watching} watching`;
  ui["room-info"].classList.remove("hidden");
  ui["allow-runs"].closest("label").classList.toggle("hidden", room.role !== "presenter");
  ui["allow-runs"].checked = Boolean(room.allowRuns);
  const qr = ui["room-qr"]; // the presenter's: the viewer link, for the class to scan
  const svg = typeof room.qr === "string" && room.qr.startsWith("data:image/svg+xml") ? room.qr
    : null;
  qr.classList.toggle("hidden", room.role !== "presenter" || !svg);
  if (svg && qr.getAttribute("src") !== svg) { qr.src = svg; qr.title = room.viewerLink || ""; }
  if (viewer) { // the server refuses a viewer's run; the button says so first
    ui.run.title = room.allowRuns ? "Run your own code (the presenter allows it)"
      : "Viewers watch: the presenter has not allowed viewers to run code";
    ui.run.textContent = room.allowRuns ? "Run" : "Run (watch only)";
  }
}
