// Export and share what the page shows: the graph as PNG or SVG (the view on screen, or the
// whole graph at a readable scale), with the values and gradients of the frame shown; the trace
// document as JSON; and a standalone HTML file that replays the run with no server (the server
// bundles the page, /standalone; the trace goes inside it).

import { sharedHash, withoutToken } from "./address.js";
import { draw, FAR } from "./canvas.js";
import { cutBoxes } from "./cuts.js";
import { recordedCode } from "./panels.js";
import { SvgContext } from "./svg.js";
import { boundsOf } from "./view.js";

const WHOLE_SCALE = 1.5; // the whole graph: text as on screen at 1.5x
const MAX_PX = 8000; // a PNG side; beyond, the whole graph is drawn smaller
const MARGIN = 32;

// {view, width, height} of an export: the view on screen, or the whole graph and its cuts.
function exportFrame(canvas, graph, view, whole, vector = false) {
  if (!whole) { return { view, width: canvas.clientWidth, height: canvas.clientHeight }; }
  const [x0, y0, x1, y1] = boundsOf([...graph.nodes, ...cutBoxes(graph.cuts)]);
  const fits = Math.min((MAX_PX - 2 * MARGIN) / (x1 - x0), (MAX_PX - 2 * MARGIN) / (y1 - y0));
  // A vector file has no pixels to run out of: it keeps the text's scale.
  const scale = vector ? Math.max(Math.min(WHOLE_SCALE, fits), FAR) : Math.min(WHOLE_SCALE, fits);
  return { view: { scale, tx: MARGIN - x0 * scale, ty: MARGIN - y0 * scale },
           width: Math.ceil((x1 - x0) * scale + 2 * MARGIN),
           height: Math.ceil((y1 - y0) * scale + 2 * MARGIN) };
}

const background = (canvas) => getComputedStyle(canvas).getPropertyValue("--bg").trim();

// The picture as a PNG blob, on the theme's background.
function pngBlob(canvas, picture, frame) {
  const drawn = window.document.createElement("canvas"); // laid out, offscreen: draw() sizes it
  drawn.style.cssText = `position: fixed; left: -${frame.width + 100}px; top: 0; `
    + `width: ${frame.width}px; height: ${frame.height}px`;
  canvas.parentElement.append(drawn);
  draw(drawn, picture.graph, picture.scene, frame.view, picture.selected, picture.internals);
  const out = window.document.createElement("canvas");
  out.width = drawn.width;
  out.height = drawn.height;
  const ctx = out.getContext("2d");
  ctx.fillStyle = background(canvas);
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(drawn, 0, 0);
  drawn.remove();
  return new Promise((resolve) => out.toBlob(resolve, "image/png"));
}

// The picture as SVG text: the same drawing code, into an SvgContext.
function svgText(canvas, picture, frame) {
  const measure = window.document.createElement("canvas").getContext("2d");
  const svg = new SvgContext(frame.width, frame.height, background(canvas), measure);
  const standIn = { clientWidth: frame.width, clientHeight: frame.height, width: 0, height: 0,
                    styleOf: canvas, getContext: () => svg };
  draw(standIn, picture.graph, picture.scene, frame.view, picture.selected, picture.internals);
  return svg.toString();
}

// The standalone page: the server's bundle with the trace, what was printed (by step) and the
// code put in its data block. `<` is written as \u003c, so no text in it can end the block.
async function standaloneHtml(doc, prints, code) {
  const response = await fetch("standalone");
  if (!response.ok) { throw new Error(`the server could not make the file (${response.status})`); }
  const page = await response.text();
  const data = JSON.stringify({ document: doc, prints, code }).replaceAll("<", "\\u003c");
  return page.replace("\"__GRADTRACE_TRACE__\"", () => data);
}

function download(name, blob) {
  const link = window.document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// The Export menu and the Share button. `app`: {state, ui, editor, setStatus(text, isError)}.
export function wireExports(app) {
  const { state, ui } = app;
  ui.export.addEventListener("click", () => ui["export-menu"].classList.toggle("hidden"));
  // What an export pictures: the graph and frame on screen, as drawn.
  const picture = () => ({ graph: state.graph, scene: state.scene, selected: state.selected,
                           internals: state.internals });
  const exported = (make) => async () => {
    ui["export-menu"].classList.add("hidden");
    if (!state.doc || !state.graph) {
      app.setStatus("nothing to export yet: run some code", true);
      return;
    }
    try { await make(); } catch (err) { app.setStatus(`export failed: ${err.message}`, true); }
    state.dirty = true; // the screen's own picture again
  };
  const frame = (vector) => exportFrame(ui.canvas, state.graph, state.view,
                                        ui["export-whole"].checked, vector);
  ui["export-png"].addEventListener("click", exported(async () => {
    download("gradtrace-graph.png", await pngBlob(ui.canvas, picture(), frame(false)));
  }));
  ui["export-svg"].addEventListener("click", exported(async () => {
    download("gradtrace-graph.svg", new Blob([svgText(ui.canvas, picture(), frame(true))],
                                             { type: "image/svg+xml" }));
  }));
  ui["export-json"].addEventListener("click", exported(async () => {
    download("gradtrace-trace.json", new Blob([JSON.stringify(state.doc, null, 1)],
                                              { type: "application/json" }));
  }));
  const runAsFile = exported(async () => {
    const page = await standaloneHtml(state.doc, state.run.prints, recordedCode(app));
    download("gradtrace-run.html", new Blob([page], { type: "text/html" }));
  });
  ui["export-html"].addEventListener("click", runAsFile);
  ui["share-run"].addEventListener("click", runAsFile);
  // Share offers two things: the code, as a link (its reader runs it, with a token of theirs),
  // and, once there is a run, the run itself, as one file that needs no server
  ui.share.addEventListener("click", async () => { // the link, shown and copied; no token in it
    const link = `${location.origin}${location.pathname}${withoutToken(location.search)}`
      + await sharedHash(recordedCode(app));
    ui["share-link"].value = link;
    ui["share-link"].classList.remove("hidden");
    ui["share-run"].classList.toggle("hidden", !state.doc || !state.graph);
    ui["share-link"].select();
    navigator.clipboard?.writeText(link).catch(() => {}); // refused over plain http: it shows
  });
}
