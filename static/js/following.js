// What a classroom viewer who follows the presenter takes from it (sync.js keeps the room's
// state): read by the camera, the graph's direction and the player. Pure, so that those modules
// need not import sync.js, which imports them.

// The presenter's view, for a viewer who follows to frame its own canvas by; else null.
export function followedView(state) {
  const room = state.room;
  return room.role === "viewer" && room.following ? state.presenterView ?? null : null;
}

// A viewer who follows keeps the presenter's step while the run's frames arrive.
export function followedStep(state) {
  const room = state.room;
  return room.role === "viewer" && room.following && room.last ? room.last.step : null;
}
