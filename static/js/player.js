// The player: a pure state machine over timeline frames. advance(state, dt) is the only clock;
// only the requestAnimationFrame loop in main.js calls it with real time, so tests step it exactly.

export const FRAMES_PER_SECOND = 4; // at speed 1

export function createPlayer(frameCount) {
  return { frames: frameCount, position: 0, playing: false, speed: 1 };
}

const clamp = (value, max) => Math.min(Math.max(value, 0), Math.max(max, 0));

// The frame on screen: the whole part of the position.
export function currentFrame(state) {
  return Math.min(Math.floor(state.position), Math.max(state.frames - 1, 0));
}

// How far the current frame's animation has gone, from 0 to 1.
export function frameProgress(state) {
  return state.position >= state.frames ? 1 : state.position - Math.floor(state.position);
}

export function advance(state, dtSeconds) {
  if (!state.playing || state.frames === 0) {
    return state;
  }
  const end = state.frames;
  const position = state.position + dtSeconds * state.speed * FRAMES_PER_SECOND;
  if (position >= end) {
    return { ...state, position: end, playing: false };
  }
  return { ...state, position };
}

// As advance, but once the animation of a frame for which `stopsAt(frame)` holds is over, it
// stops there and waits (a key or Play goes on): the "pause at each node" mode. A player parked
// at the end of such a frame goes on past it.
const PARKED = 0.999;
export function advanceStopping(state, dtSeconds, stopsAt) {
  const next = advance(state, dtSeconds);
  const last = Math.min(Math.floor(next.position), state.frames);
  for (let f = currentFrame(state); f < last; f++) {
    if (state.position < f + PARKED && stopsAt(f)) {
      return { ...next, position: f + PARKED, playing: false };
    }
  }
  return next;
}

export function play(state) {
  const atEnd = state.position >= state.frames;
  return { ...state, playing: state.frames > 0, position: atEnd ? 0 : state.position };
}

export function pause(state) {
  return { ...state, playing: false };
}

export function stepForward(state) {
  return { ...state, playing: false, position: clamp(currentFrame(state) + 1, state.frames - 1) };
}

export function stepBack(state) {
  return { ...state, playing: false, position: clamp(currentFrame(state) - 1, state.frames - 1) };
}

export function seek(state, frame) {
  return { ...state, position: clamp(frame, state.frames - 1) };
}

export function setSpeed(state, speed) {
  return { ...state, speed: speed > 0 ? speed : state.speed };
}
