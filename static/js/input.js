// Input: the player's controls and keys, and the canvas's pointer, wheel, pinch, fit, zoom,
// groups and search, each turned into a change of the view state; and the toolbar's choices of
// device and example. `app`: {state, ui, editor, render(), act(change), moveView(view),
// request(...), run()}.

import { collapsedAt } from "./depth.js";
import { CPU_ONLY, deviceChoices, exampleDevice, keptChoice } from "./devices.js";
import { askForLayout, collapseTo, toggleGroup } from "./graphview.js";
import { anyOf, collapsedPaths, groupsAround } from "./groups.js";
import { isPlumbing } from "./fold.js";
import { iterations } from "./iteration.js";
import { pause, play, seek, setSpeed, stepBack, stepForward } from "./player.js";
import { searchHits } from "./search.js";
import { backwardStart } from "./timeline.js";
import { centreOn, hitTest, pan, toWorld, zoomAt } from "./view.js";

// A node picked on the canvas or in Problems; the inspector follows, naming its variable if any.
function select(app, nodeId) {
  const { state } = app;
  app.userActed();
  state.selected = nodeId;
  const variable = state.doc.variables.find((v) => v.node === nodeId && nodeId !== null);
  state.selectedName = variable ? variable.name : null;
  app.render();
}


// The player's controls and keys: client-side only; the server is never asked.
// The device menu, from the server's `capabilities` (the page's own copy at first, then the
// server's word as it connects and whenever CUDA is found or lost).
export function showDevices(select, report) {
  const choices = deviceChoices(report);
  const chosen = keptChoice(choices, select.value);
  select.replaceChildren(...choices.map((c) => {
    const option = new Option(c.label, c.value);
    Object.assign(option, { disabled: c.disabled, title: c.title });
    return option;
  }));
  select.value = chosen;
  select.title = choices.map((c) => c.title).join("\n");
}

// The devices and the examples (`examples`: a promise of [{name, title, code}]); a GPU example
// picks cuda where the server has it. The empty page's "try the seed example" runs one.
export function wireChoices({ ui, editor, run }, examples) {
  showDevices(ui.device, JSON.parse(window.document.body.dataset.capabilities || "null")
                         || CPU_ONLY);
  examples.then((list) => {
    for (const ex of list) {
      const option = new Option(`${ex.name} — ${ex.title}`, ex.code);
      option.dataset.device = exampleDevice(ex.name) || "";
      ui.examples.add(option);
    }
  });
  ui["try-seed"].addEventListener("click", async () => {
    const seed = (await examples).find((ex) => ex.name === ui["try-seed"].dataset.example);
    editor.setValue(seed.code);
    run();
  });
  ui.examples.addEventListener("change", () => {
    if (!ui.examples.value) { return; }
    editor.setValue(ui.examples.value);
    const wanted = ui.examples.selectedOptions[0].dataset.device; // cuda, or any device
    if (wanted && [...ui.device.options].some((o) => o.value === wanted && !o.disabled)) {
      ui.device.value = wanted;
    }
  });
}

export function wirePlayer(app) {
  const { state, ui, act } = app;
  ui.play.addEventListener("click", act((p) => (p.playing ? pause(p) : play(p))));
  ui["step-forward"].addEventListener("click", act(stepForward));
  ui["step-back"].addEventListener("click", act(stepBack));
  ui["jump-forward"].addEventListener("click", act((p) => seek(p, 0)));
  ui["jump-backward"].addEventListener("click",
                                       act((p) => seek(p, backwardStart(state.frames))));
  ui.timeline.addEventListener("input", act((p) => seek(p, Number(ui.timeline.value))));
  ui.speed.addEventListener("change", act((p) => setSpeed(p, Number(ui.speed.value))));
  window.addEventListener("keydown", (event) => {
    // The editor and the inputs type; space on a focused button presses it (on Run it runs, it
    // does not play).
    const typing = ".CodeMirror, input, select";
    const own = event.target.closest
      && event.target.closest(event.key === " " ? `${typing}, button, summary` : typing);
    if (own) { return; }
    const keys = { " ": (p) => (p.playing ? pause(p) : play(p)),
                   ArrowRight: stepForward, ArrowLeft: stepBack,
                   Home: (p) => seek(p, 0), End: (p) => seek(p, p.frames - 1) };
    if (keys[event.key]) { event.preventDefault(); act(keys[event.key])(); }
  });
}

// The canvas: drag to pan, wheel or pinch to zoom, double-click to fit, click to select. Moves
// only mark the view dirty; the animation loop draws once per frame however many events arrive.
// Moves and releases are followed on the window, so a drag may leave the canvas.
export function wireCanvas(app) {
  const { state, ui } = app;
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
  const moveView = app.moveView;
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
      if (typeof hit === "string") { toggleGroup(app, hit.slice("group:".length), true); }
      else if (hit === null && band) { toggleGroup(app, band.id, false); }
      else { select(app, hit); }
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
    app.render();
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
  ui["expand-all"].addEventListener("click", () => collapseTo(app, []));
  ui["collapse-all"].addEventListener("click", () => {
    const reply = state.graph && state.graph.reply;
    if (reply) {
      collapseTo(app, reply.groups.filter(([, parent]) => parent < 0).map(([path]) => path));
    }
  });
  ui.depth.addEventListener("change", () => {
    const reply = state.graph && state.graph.reply;
    const level = Number(ui.depth.value);
    if (reply && level) { collapseTo(app, collapsedAt(reply, level)); }
  });
  ui.direction.addEventListener("change", () => {
    state.direction = ui.direction.value;
    fitAll(); // the picture turns as a whole: fit it
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
      state.player = seek(state.player, at);
      app.render(); // the scene and graph of that frame
    }
    const reply = state.graph.reply;
    const index = reply ? reply.ids.indexOf(id) : -1;
    const around = index >= 0 ? groupsAround(reply, index) : [];
    const shut = reply ? collapsedPaths(reply) : [];
    if (around.some((path) => shut.includes(path))) { // hidden in a box: open what hides it
      state.collapsed = shut.filter((path) => !around.includes(path));
      askForLayout(app, state.collapsed, () => centreOnNode(id));
    } else {
      centreOnNode(id);
    }
  }
  function centreOnNode(id) {
    const node = state.graph.byId.get(id);
    if (!node) { return; }
    app.centreOnBox(node);
    select(app, node.id);
  }
  ui.search.addEventListener("input", () => findNext(false));
  ui.search.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); findNext(true); }
  });
  window.addEventListener("resize", () => app.render());
}
