// The camera: where the view looks at each frame. A new picture is fitted to the canvas, or, for
// a classroom viewer who follows, framed on what the presenter sees (sync.js). In presenter mode
// the fit is zoomed by PRESENT_ZOOM, so that text, edge labels and pulses are that much larger
// (canvas.js), and the camera follows the running node when it leaves the view.

import { cutBoxes } from "./cuts.js";
import { followedView } from "./sync.js";
import { centreOn, fitView, followView, nodeBox, onScreen, zoomAt } from "./view.js";

const PRESENT_ZOOM = 1.5;

// Sets `state.view` for the drawn `graph` at `frameIndex` on a width x height canvas.
export function aim(state, graph, scene, frameIndex, width, height, presenting) {
  if (!state.view && graph.nodes.length + graph.cuts.length) {
    const boxes = [...graph.nodes, ...cutBoxes(graph.cuts)];
    const presenters = followedView(state);
    state.view = presenters ? followView(presenters, boxes, width, height)
      : fitView(boxes, width, height);
    if (presenting && !presenters) {
      state.view = zoomAt(state.view, PRESENT_ZOOM, width / 2, height / 2);
    }
  }
  if (presenting && state.view && state.followed !== frameIndex) {
    state.followed = frameIndex;
    const running = [...scene.active].map((id) => graph.byId.get(id)).find(Boolean);
    if (running && !onScreen(state.view, nodeBox(running), width, height, true)) {
      state.view = centreOn(state.view, running, width, height, state.view.scale);
    }
  }
}
