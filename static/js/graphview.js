// The graph as the canvas draws it, from the document and the view state: the server's view
// layout asked for and applied (views.py), the teaching view's folds, a loop's iteration, and
// each node as wide as its text. `app`: {state, ui, request(name, payload, reply), render()}.

import { boxWidth, textNeeds } from "./canvas.js";
import { cutMarks, placeCuts } from "./cuts.js";
import { fill as fillDepths } from "./depth.js";
import { foldGraph } from "./fold.js";
import { followedView } from "./following.js";
import { collapsedPaths, groupFace, viewGraph } from "./groups.js";
import { iterationGraph, iterationNodes, iterations } from "./iteration.js";
import { goesDown, orient } from "./orient.js";
import { currentFrame } from "./player.js";
import { routeEdges } from "./routes.js";
import { compactValue, nodeFace, sceneAt } from "./scene.js";
import { passOfFrame } from "./timeline.js";
import { fitLayers } from "./view.js";

// The graph as drawn: folded in the teaching view; for a loop, the iteration of the pass the
// player is on (iteration.js); each node as wide as its text needs and the layers spaced to
// match; turned top to bottom where that shows it bigger, or where asked (orient.js); edges
// routed around boxes (routes.js). Rebuilt only when the graph, the timeline, the view kind,
// the iteration, the direction or the canvas's size changes.
const measure = window.document.createElement("canvas").getContext("2d");
export function drawnGraph(app) {
  const { state } = app;
  const doc = state.doc;
  const pass = shownPass(app);
  const current = state.layout.graph === doc.graph && state.layout.pass === pass;
  const reply = current ? state.layout.reply : null;
  const direction = directionOf(app);
  const [width, height] = [app.ui.canvas.clientWidth, app.ui.canvas.clientHeight];
  const key = [doc.graph, state.frames, state.internals, pass, reply, state.layout.failed,
               direction, width, height];
  if (!state.graphKey || key.some((part, i) => part !== state.graphKey[i])) {
    if (!current) { askForLayout(app, state.collapsed); }
    // A big graph waits for its view (drawing it whole first would only delay that); a small
    // one, or one whose view failed, shows whole meanwhile.
    const waiting = !reply && !state.layout.failed && doc.graph.nodes.length > WAIT_FOR_VIEW;
    const viewed = viewGraph(waiting ? { nodes: [], edges: [] } : doc.graph, reply);
    const whole = state.internals ? viewed : foldGraph(viewed, explained(doc));
    const base = pass === null || reply ? whole : iterationGraph(whole, iterations(doc).get(pass));
    const end = sceneAt(doc, state.frames, state.frames.length - 1); // leaves' final .grad
    const sized = fitLayers(base.nodes, (n) => (n.members
      ? { w: boxWidth(measure, groupFace(n, null)), tall: false }
      : textNeeds(measure, n, [nodeFace(n, null), nodeFace(n, end), ...accumulating(n, end)])));
    const { nodes, down } = orient(direction, sized, width, height);
    const labels = new Map(viewed.groups.map((g) => [g.path, g.label]));
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const cuts = placeCuts(cutMarks(doc, byId), nodes, byId);
    const routes = nodes.length <= ROUTED_NODES ? routeEdges(nodes, base.edges, byId, down) : null;
    state.graph = { nodes, edges: base.edges, byId, labels, reply, cuts, down, routes };
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

// The direction the graph is drawn in (orient.js): as the direction control says. A viewer who
// follows a presenter draws as the presenter does, so that the part of the picture it is sent
// is the same part.
function directionOf({ state }) {
  const presenter = followedView(state);
  return presenter ? (presenter.down ? "down" : "across") : state.direction;
}

const WAIT_FOR_VIEW = 500; // nodes: a graph this big is drawn only once its view has come
// Edges are routed around boxes (routes.js) in a picture of at most this many nodes: a bigger one
// is read from afar, where edges are straight lines, and routing costs up to a layer's nodes an
// edge.
const ROUTED_NODES = 2000;
const LEGIBLE_LAYER_PX = 90; // a layer of the graph, fitted with its text at least 9 px

// Ask the server to lay the graph out with `collapsed` groups (null: as it opens). The server
// makes one layout at a time for a client, so one request is in flight at a time here: a newer
// one waits, and replaces any that waited before it; the reply to a request that has a newer
// one behind it is dropped. A reply replaces the view only while it is still for the graph on
// screen; `then` runs after it.
export function askForLayout(app, collapsed, then = () => {}, opened = null) {
  const { state, ui } = app;
  const doc = state.doc;
  const graph = doc.graph;
  const pass = shownPass(app);
  const same = state.layout.graph === graph && state.layout.pass === pass;
  state.layout = { graph, pass, reply: same ? state.layout.reply : null };
  if (!graph.nodes.length) { return; }
  const nodes = pass === null ? null : iterationNodes(graph, iterations(doc).get(pass));
  // how many layers fit side by side (or one below another) with their text legible: the
  // opening view fits them
  const along = goesDown(directionOf(app), ui.canvas.clientWidth, ui.canvas.clientHeight)
    ? ui.canvas.clientHeight : ui.canvas.clientWidth;
  const layers = collapsed === null ? Math.max(Math.floor(along / LEGIBLE_LAYER_PX), 4) : null;
  const ask = { graph, pass, then, request: { collapsed, nodes, opened, layers } };
  if (state.asking.busy) { state.asking.next = ask; } else { sendLayout(app, ask); }
}

function sendLayout(app, ask) {
  const asking = app.state.asking;
  asking.busy = true;
  window.gradtrace.layouts += 1;
  app.request("layout", ask.request, (reply) => {
    asking.busy = false;
    const next = asking.next;
    asking.next = null;
    if (next) { sendLayout(app, next); }
    window.gradtrace.layouts -= 1;
    if (!next) { applyLayout(app, ask, reply); }
  });
}

function applyLayout(app, { graph, pass, then }, reply) {
  const { state } = app;
  if (state.doc.graph !== graph || state.layout.pass !== pass) { return; }
  if (!reply || reply.error || reply.nodes !== graph.nodes.length) {
    state.layout = { ...state.layout, failed: true }; // show what it can without one
    app.render();
    return;
  }
  state.layout = { graph, pass, reply };
  fillDepths(app.ui.depth, reply);
  app.render();
  then();
  window.gradtrace.views += 1;
  performance.mark("gradtrace:view"); // bench/page.py: Run or a click -> the view drawn
}

// The pass whose iteration the canvas shows: in a loop, the one the player is on.
const shownPass = ({ state }) => (state.doc.passes.length > 1
  ? passOfFrame(state.doc, state.frames[currentFrame(state.player)]) : null);

// Open or close a group in place: the view stays, so what comes before the group in the graph
// stays where it was, and what comes after makes room.
export function toggleGroup(app, path, open) {
  const { state } = app;
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
  askForLayout(app, state.collapsed, () => {
    state.collapsed = collapsedPaths(state.layout.reply); // what it opened with stays so
  }, open ? path : null);
}

// Every group collapsed as given (null: as the graph opens), the whole picture fitted anew.
export function collapseTo(app, collapsed) {
  const { state } = app;
  state.collapsed = collapsed;
  state.view = null; // the picture changes as a whole: fit it
  state.viewTouched = false;
  if (state.doc) { askForLayout(app, collapsed); }
}
