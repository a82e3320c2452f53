// The camera: where the view looks at each frame. A new picture is fitted to the canvas, never so
// small that its text cannot be read (view.READABLE_SCALE; a very big one is fitted whole), or,
// for a classroom viewer who follows, framed on what the presenter sees (sync.js). In presenter
// mode the fit is zoomed by PRESENT_ZOOM, so that text, edge labels and pulses are that much
// larger (canvas.js). There, and wherever the fitted picture was too big to show whole, the
// camera follows the running node when it leaves the view.

import { framesBounds } from "./canvas.js";
import { cutBoxes } from "./cuts.js";
import { followedView } from "./following.js";
import { anyOf } from "./groups.js";
import {
  boundsOf, centreOn, fitBounds, followView, nodeBox, onScreen, READABLE_SCALE, zoomAt,
} from "./view.js";

const PRESENT_ZOOM = 1.5;

// A picture of more boxes than this (a big model expanded whole) is fitted whole, to be read by
// its shape and zoomed into: at a readable scale it would show a sliver of it.
const READ_WHOLE = 400;

const union = (a, b) => [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]),
                         Math.max(a[3], b[3])];

// Sets `state.view` for the drawn `graph` at `frameIndex` on a width x height canvas, whose
// top `covered` pixels the canvas's tools lie over.
export function aim(state, graph, scene, frameIndex, width, height, presenting, covered = 0) {
  if (!state.view && graph.nodes.length + graph.cuts.length) {
    const boxes = [...graph.nodes, ...cutBoxes(graph.cuts)];
    const presenters = followedView(state);
    state.view = presenters ? followView(presenters, boxes, width, height)
      : fitBounds(union(boundsOf(boxes), framesBounds(graph)), width, height, 16,
                  graph.nodes.length <= READ_WHOLE ? READABLE_SCALE : 0, covered);
    if (presenting && !presenters) {
      state.view = zoomAt(state.view, PRESENT_ZOOM, width / 2, height / 2);
    } else if (state.view.partial) {
      state.followed = frameIndex; // the picture's start shows first; the camera follows from here
    }
  }
  if ((presenting || (state.view && state.view.partial)) && state.view
      && state.followed !== frameIndex) {
    state.followed = frameIndex;
    // the running node, or the box of the collapsed group it is in
    const running = [...scene.active].map((id) => graph.byId.get(id)).find(Boolean)
      || (scene.active.size ? graph.nodes.find((n) => n.members && anyOf(scene.active, n)) : null);
    if (running && !onScreen(state.view, nodeBox(running), width, height, true)) {
      state.view = { ...centreOn(state.view, running, width, height, state.view.scale),
                     partial: state.view.partial };
    }
  }
}
