// The socket's life: a dropped connection comes back, and the page says what became of the run.
// The server stops a client's run, and forgets it and the values it kept, when that client
// disconnects (live.py's disconnect, Sessions.forget): a run of this page's that was going when
// the socket dropped is over, and no `done` will come for it. A classroom viewer's run is the
// room's: it goes on, and the room sends it again when the viewer is welcomed back (sync.js).
// `app`: {state, refresh()}.

const BUSY = ["starting", "queued", "running"];
const RETRY_FIRST = 1000; // ms; then twice as long each time, up to RETRY_MOST
const RETRY_MOST = 30000;

// What the status says while the connection is down or after it came back, or null when the
// run's own status says it.
export function connectionNotice(connection, run) {
  if (run.status === "lost") {
    return connection === "down" ? "run stopped: connection lost · reconnecting…"
      : "run stopped: connection lost · reconnected";
  }
  return connection === "down" ? "connection lost · reconnecting…" : null;
}

// The longer word, for the status's tooltip.
export const LOST_RUN = "The connection to the server dropped while the run went on. The "
  + "server stops a run when its page disconnects, and forgets it: the page shows what "
  + "arrived before the drop. Run again to record the whole run.";

// A run of this page's that was going is over when the socket drops.
export function loseRun(run, viewer) {
  if (viewer || !BUSY.includes(run.status)) { return false; }
  run.status = "lost";
  return true;
}

export function wireConnection(app, socket) {
  const { state } = app;
  state.connection = "connecting"; // then "up", and "down" between a drop and the next connect
  let retry = RETRY_FIRST;
  socket.on("connect", () => {
    retry = RETRY_FIRST;
    if (state.connection === "down") { state.connection = "up"; app.refresh(); }
    state.connection = "up";
  });
  socket.on("disconnect", (reason) => {
    state.connection = "down";
    loseRun(state.run, state.room.role === "viewer");
    app.refresh();
    // Socket.IO comes back by itself after a transport's drop, not after the server's own
    // disconnect: then ask again, less and less often.
    if (reason === "io server disconnect") {
      setTimeout(() => { if (!socket.connected) { socket.connect(); } }, retry);
      retry = Math.min(retry * 2, RETRY_MOST);
    }
  });
}
