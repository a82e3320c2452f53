"""Socket.IO handlers: check what arrives, then hand it to Sessions. Kept thin on purpose.

Client to server: `run` {code, device?, passes?, seeded?}, `stop`, `inspect` {summary},
{variable} or {node}, and `layout` {collapsed, nodes?} (each answered in its acknowledgement).
Server to client: `trace`, a batch (JSON list) of events (docs/protocol.md lists them), and
`capabilities`, the devices.

In a classroom (classroom.py) a connection names the room: with the token it is the presenter,
without it a viewer. Then also: `welcome` (the room as it is now), `sync` {view state} from the
presenter, `allow_runs` {allow}; to clients `room` {watching, role, ...}, `room_run`, `sync`.
A member's `inspect` and `layout` are answered from the room's run (by whichever process ran
it) until the member runs code of its own.
"""

from __future__ import annotations

import functools
import hmac
import threading
import time

from flask import request
from flask_socketio import ConnectionRefusedError, SocketIO

from gradtrace.trace.passplan import PassSpecError, parse_passes
from gradtrace.trace.protocol import rejected_event
from gradtrace.web.roomstore import ASK_TIMEOUT

MAX_CODE_BYTES = 64 * 1024
RUNS_PER_MINUTE = 120  # per connection: a script cannot flood the queue, a quick teacher can
# A welcome replays the room's whole run to its member: the page asks once a connection (a
# reconnection is a new one).
WELCOMES_PER_MINUTE = 2
# Every message of a connection: a presenter's sync follows the player at most every 40 ms
# (sync.js), 1,500 a minute, with inspect and layout besides
MESSAGES_PER_MINUTE = 3000
ROOM_LAYOUT_WAIT = 10.0  # seconds a viewer's layout of the room's run may wait for its turn


def register(socketio: SocketIO, sessions, devices, token: str, classroom=None) -> None:
    """``devices``: devices.Devices, what runs may use here (told to each client as it
    connects, as `capabilities`, and again whenever it changes)."""
    limiter = RateLimiter(RUNS_PER_MINUTE, "runs")
    welcomes = RateLimiter(WELCOMES_PER_MINUTE, "welcomes")
    messages = RateLimiter(MESSAGES_PER_MINUTE, "messages")
    welcoming: set[str] = set()  # members being welcomed: one at a time each
    welcoming_lock = threading.Lock()

    def limited(handler):
        """A handler that refuses a connection's messages past MESSAGES_PER_MINUTE."""
        @functools.wraps(handler)
        def checked(*args):
            refusal = messages.refusal(request.sid)
            if refusal is None:
                return handler(*args)
            reject(refusal)
            return {"error": refusal}  # what a question (inspect, layout) is answered
        return checked

    asking: set[str] = set()  # viewers with a question about the room's run in flight
    asking_lock = threading.Lock()

    def reject(reason: str) -> None:
        socketio.emit("trace", [rejected_event(reason)], to=request.sid, ignore_queue=True)

    def watching() -> bool:
        return classroom is not None and classroom.is_viewer(request.sid)

    def left(sid: str):
        """Whether the connection ``sid`` has gone: then a layout for it stops (kept.py)."""
        return lambda: not socketio.server.manager.is_connected(sid, "/")

    def answer(kind: str, client: str, payload, stop=None) -> dict:
        """A question about a run of this process (a viewer's, about the room's run). Asked by
        another process, its layout stops when that process has stopped waiting."""
        if kind == "inspect":
            return sessions.kept.answer(client, payload)
        deadline = time.monotonic() + ASK_TIMEOUT
        return sessions.kept.view(client, payload, wait=ROOM_LAYOUT_WAIT,
                                  stop=stop or (lambda: time.monotonic() > deadline))

    def ask_room(kind: str, payload) -> dict:
        """A viewer's question about the room's run, wherever it ran: one at a time each."""
        with asking_lock:
            if request.sid in asking:
                return {"error": "busy: your last question is still being answered"}
            asking.add(request.sid)
        try:
            return classroom.ask(kind, payload,
                                 functools.partial(answer, stop=left(request.sid)))
        finally:
            with asking_lock:
                asking.discard(request.sid)

    def reads_room_run() -> bool:
        """A room's member reads the room's run, unless it ran its own (a presenter who has
        reloaded has not, yet)."""
        return (classroom is not None and not sessions.kept.has(request.sid)
                and (watching() or classroom.is_presenter(request.sid)))

    if classroom is not None:
        socketio.start_background_task(classroom.answer_asks, answer)

    @socketio.on("connect")
    def connect(auth=None):
        auth = auth if isinstance(auth, dict) else {}
        given, room = auth.get("token"), auth.get("room")
        allowed = isinstance(given, str) and hmac.compare_digest(given.encode(), token.encode())
        if (classroom is not None and isinstance(room, str)
                and hmac.compare_digest(room.encode(), classroom.id.encode())):
            classroom.join(request.sid, presenter=allowed)  # no token: a viewer, watch-only
        elif not allowed:
            _hang_up_soon(socketio, request.sid)
            raise ConnectionRefusedError("a valid token is required: open the URL that "
                                         "gradtrace printed, with its ?token=")
        socketio.emit("capabilities", devices.report(), to=request.sid, ignore_queue=True)

    @socketio.on("disconnect")
    def disconnect(*args):
        # a disconnect kills the run and drops what was kept, unless the room shows that run
        shown = classroom is not None and classroom.shows_run_of(request.sid)
        sessions.forget(request.sid, keep_values=shown)
        for rate in (limiter, welcomes, messages):
            rate.forget(request.sid)
        if classroom is not None:
            classroom.leave(request.sid)

    @socketio.on("run")
    @limited
    def run(payload=None):
        if watching() and not classroom.allow_runs:
            return reject("you are watching the presenter's room: a viewer cannot run code "
                          "unless the presenter allows it")
        problem = _check_run(payload, devices) or limiter.refusal(request.sid)
        if problem:
            return reject(problem)
        device = payload.get("device") or "cpu"
        leading = classroom is not None and classroom.is_presenter(request.sid)
        if leading:
            classroom.run_started(request.sid)
        problem = sessions.start(request.sid, payload["code"], device,
                                 owner=request.remote_addr or "", passes=payload.get("passes"),
                                 seeded=payload.get("seeded", True))
        if problem:
            reject(problem)
            if leading:
                classroom.relay(request.sid, [rejected_event(problem)])

    @socketio.on("inspect")
    @limited
    def inspect(payload=None):
        if reads_room_run():
            return ask_room("inspect", payload)
        return sessions.kept.answer(request.sid, payload)

    @socketio.on("layout")
    @limited
    def view(payload=None):
        if reads_room_run():
            return ask_room("layout", payload)
        return sessions.kept.view(request.sid, payload, stop=left(request.sid))

    @socketio.on("welcome")
    @limited
    def welcome(*args):
        """A classroom member is ready: the room as it is now (a late joiner's whole run). It
        costs the room's whole run again: one at a time, WELCOMES_PER_MINUTE a connection."""
        if classroom is None or not (watching() or classroom.is_presenter(request.sid)):
            return reject("this server has no room for this connection")
        refusal = welcomes.refusal(request.sid)
        if refusal:
            return reject(refusal)
        with welcoming_lock:
            if request.sid in welcoming:
                return reject("busy: your last welcome is still being sent")
            welcoming.add(request.sid)
        try:
            classroom.welcome(request.sid)
        finally:
            with welcoming_lock:
                welcoming.discard(request.sid)

    @socketio.on("sync")
    @limited
    def sync(payload=None):
        problem = ("this server has no classroom" if classroom is None
                   else classroom.sync(request.sid, payload))
        if problem:
            reject(problem)

    @socketio.on("allow_runs")
    @limited
    def allow_runs(payload=None):
        allow = payload.get("allow") if isinstance(payload, dict) else None
        problem = ("this server has no classroom" if classroom is None
                   else classroom.set_allow_runs(request.sid, allow))
        if problem:
            reject(problem)

    @socketio.on("stop")
    @limited
    def stop(*args):
        if not sessions.stop(request.sid):
            reject("nothing is running")

    @socketio.on_error_default
    def on_error(exc):
        reject(f"the server could not handle that event: {type(exc).__name__}")


class RateLimiter:
    """At most ``per_minute`` of ``what`` (runs, welcomes, messages) a connection in any
    minute."""

    def __init__(self, per_minute: int, what: str):
        self.per_minute = per_minute
        self.what = what
        self._starts: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def refusal(self, client: str, now: float | None = None) -> str | None:
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = [t for t in self._starts.get(client, ()) if now - t < 60]
            if len(recent) >= self.per_minute:
                self._starts[client] = recent
                return (f"too many {self.what}: at most {self.per_minute} a minute; wait "
                        f"{60 - (now - recent[0]):.0f} s")
            self._starts[client] = [*recent, now]
        return None

    def forget(self, client: str) -> None:
        with self._lock:
            self._starts.pop(client, None)


def _hang_up_soon(socketio: SocketIO, sid: str) -> None:
    """A refused Socket.IO connect leaves the Engine.IO connection open; close it once the
    refusal has gone out, so a client without the token holds no connection."""
    eio_sid = socketio.server.manager.eio_sid_from_sid(sid, "/")
    timer = threading.Timer(0.5, socketio.server.eio.disconnect, args=(eio_sid,))
    timer.daemon = True
    timer.start()


def _check_run(payload, devices) -> str | None:
    if not isinstance(payload, dict):
        return "run expects an object: {code, device}"
    code = payload.get("code")
    if not isinstance(code, str):
        return "run needs `code`, a string of Python"
    if len(code.encode("utf-8", "replace")) > MAX_CODE_BYTES:
        return f"the code is over {MAX_CODE_BYTES // 1024} KiB"
    device = payload.get("device") or "cpu"
    if device not in devices.ids():
        return devices.why_not(device) if isinstance(device, str) else "device must be a string"
    if payload.get("passes") is not None:
        try:
            parse_passes(payload["passes"])
        except PassSpecError as exc:
            return str(exc)
    if not isinstance(payload.get("seeded", True), bool):
        return "seeded must be true or false"
    return None
