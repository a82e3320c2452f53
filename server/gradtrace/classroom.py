"""A classroom: one presenter's view, followed by many viewers (`gradtrace serve --classroom`).

The presenter connects with the room id and the server's token; a viewer with the room id
alone, and may only watch. The presenter's page sends its view state (`sync`: code, step,
selection, groups, view) as it changes; the room checks it, keeps the last one, and passes it
on to every viewer. The presenter's run goes to the viewers too, batch by batch, and the room
keeps its batches so that a viewer who joins late gets the finished run and the state at once.
The room outlives the presenter's connection: a presenter who reloads finds it as it was.

A viewer follows the room live only once it has caught up: while its `welcome` replays what the
room kept, what the room sends meanwhile is kept for it too, and the last of the replay and its
joining the room's channel happen under the lock every batch is relayed under. So a viewer who
joins (or whose page reconnects) in the middle of a run gets each of its batches once, in order.
With several processes (below) a batch relayed by another process in that last moment can still
come twice or not at all.

The room's run reaches its viewers in one emit per batch, encoded once. A viewer that stops
reading (a stalled laptop, a script) would hold every batch after that in the server's memory: the
room looks a few times a second at what waits for each of its viewers, and hangs up on any past
the same cap as a run's own client (outbox.py). A late joiner's catching up waits for it to read.

Several server processes can serve one room (`serve --redis URL`): what they must see alike is
in the room's store (roomstore.py), and the room's events travel on Flask-SocketIO's message queue.

Viewers send nothing the room keeps: their `sync` is refused, and their `run` too unless the
presenter allowed private runs (each viewer's own, under the same limits and queue).
"""

from __future__ import annotations

import logging
import math
import threading
import time

import segno

from gradtrace.roomstore import LocalRoom

logger = logging.getLogger(__name__)

MAX_CODE_CHARS = 64 * 1024
MAX_GROUPS = 10_000
MAX_NAME_CHARS = 300
MAX_STEP = 10_000_000
LOOK_EVERY = 0.25  # seconds between looks at what waits for each viewer
RENEW_EVERY = 40  # looks: the room's part in the store is renewed every 10 s
CATCH_UP_WAIT = 60.0  # seconds a late joiner may take to read half the cap, before it is dropped
CATCH_UP_LOCKED = 64  # batches at most that a catch-up sends while relaying waits for it


class Classroom:
    """The room's members on this process, and what it shares with the room's other processes
    (``store``: roomstore.py)."""

    def __init__(self, room: str, socketio=None, viewer_link: str | None = None, outbox=None,
                 store=None):
        self.id = room
        self.socketio = socketio
        self.viewer_link = viewer_link
        self.outbox = outbox
        self.store = store or LocalRoom()
        self.qr = (segno.make(viewer_link, error="m").svg_data_uri(scale=4, border=2)
                   if viewer_link else None)  # for the presenter's page to show
        self.presenters: set[str] = set()  # this process's connections
        self.viewers: set[str] = set()
        self._left_runs: set[str] = set()  # presenters' connections that left, their runs shown
        self._lock = threading.Lock()  # the members
        # what goes to the room's channel (a batch, a new run, a view state), and a viewer
        # joining the channel, one at a time: a viewer never gets one both replayed and live
        self._relaying = threading.Lock()

    @property
    def channel(self) -> str:
        return f"room:{self.id}"

    @property
    def presenters_channel(self) -> str:
        return f"room:{self.id}:presenters"

    # -- members ---------------------------------------------------------------------------------

    def join(self, client: str, presenter: bool) -> None:
        """A new member (while it connects: what it is sent waits for `welcome`; a viewer joins
        the room's channel once welcomed)."""
        with self._lock:
            (self.presenters if presenter else self.viewers).add(client)
            self.store.set_watching(len(self.viewers))
        if self.socketio is not None and presenter:
            self.socketio.server.enter_room(client, self.presenters_channel)

    def welcome(self, client: str) -> None:
        """The room as it is now, for a member that has just connected: its role and who is
        watching; to a viewer, the room's run and the presenter's last view state too (a late
        joiner sees what everyone sees), and from then on what the room sends; to a presenter
        who reconnected, the state it left."""
        presenter = self.is_presenter(client)
        info = self.members()
        info = ({**info, "role": "presenter", "viewer_link": self.viewer_link, "qr": self.qr}
                if presenter else {**info, "role": "viewer"})
        if not presenter and self.socketio is not None:
            with self._relaying:  # welcomed again: replayed from the start, and live after
                self.socketio.server.leave_room(client, self.channel)
        self._emit("room", info, to=client)  # first: who it is
        run, sent = None, 0  # the room's run being replayed, and how many of its batches went
        while True:
            with self._relaying:
                now, fresh = self.store.batches_since(run, sent)
                if now == run and len(fresh) <= CATCH_UP_LOCKED:  # the last of the replay
                    for batch in fresh:
                        self._emit("trace", batch, to=client)
                    if not presenter and not self._follow(client):
                        return  # it left meanwhile
                    state = self.store.state()
                    if state is not None:
                        self._emit("sync", state, to=client)
                    break
            if now != run:  # the first look, or the presenter ran code again meanwhile
                run, sent = now, 0
                if now or fresh:  # (a room kept by an older server has batches, no number)
                    self._emit("room_run", {}, to=client)
            for batch in fresh:  # relaying goes on meanwhile, kept for the next look
                if not self._read_enough(client):
                    return
                self._emit("trace", batch, to=client)
                sent += 1
        self._emit("welcomed", {}, to=client)  # the room as it was: a presenter leads from here
        self.tell_members()

    def _follow(self, client: str) -> bool:
        """A caught-up viewer joins the room's channel, unless it has left (under ``_lock``, as
        `leave` is: a connection that left is not put back in the channel)."""
        with self._lock:
            if client not in self.viewers:
                return False
            if self.socketio is not None:
                self.socketio.server.enter_room(client, self.channel)
            return True

    def _read_enough(self, client: str) -> bool:
        """Wait until what waits for ``client`` is under half the cap; False, and the client
        hung up, if it does not read that much in CATCH_UP_WAIT."""
        if self.outbox is None:
            return True
        deadline = time.monotonic() + CATCH_UP_WAIT
        while self.outbox.pending(client) > self.outbox.max_pending_bytes // 2:
            if time.monotonic() > deadline:
                self.outbox.hang_up(client)
                return False
            time.sleep(0.02)
        return True

    def keep_up(self, forget_run) -> None:
        """Forever, every LOOK_EVERY: hang up on each viewer with more than the cap unread (its
        page reconnects and catches up from the room, at the pace it reads); ``forget_run`` the
        run of a presenter's connection that left once the room shows another; and now and then
        renew this process's part of the room in the store."""
        looks = 0
        while True:
            time.sleep(LOOK_EVERY)
            looks += 1
            try:
                for client in list(self.viewers):
                    if self.outbox.too_slow(client):
                        self.outbox.hang_up(client)
                for left in list(self._left_runs):
                    if not self.shows_run_of(left):
                        self._left_runs.discard(left)
                        forget_run(left)
                if looks % RENEW_EVERY == 0:
                    self.store.renew()
            except Exception:  # Redis away for a moment: look again next time, not never
                logger.exception("the classroom's look at its viewers failed")

    def shows_run_of(self, client: str) -> bool:
        return self.store.runner() == (self.store.process, client)

    def leave(self, client: str) -> None:
        if self.shows_run_of(client):  # its run stays for the room's questions (live.py)
            self._left_runs.add(client)
        with self._lock:
            self.presenters.discard(client)
            self.viewers.discard(client)
            self.store.set_watching(len(self.viewers))
        self.tell_members()

    def is_presenter(self, client: str) -> bool:
        return client in self.presenters

    def is_viewer(self, client: str) -> bool:
        return client in self.viewers

    @property
    def allow_runs(self) -> bool:
        return self.store.allow_runs()

    def members(self) -> dict:
        return {"room": self.id, "watching": self.store.watching(),
                "allow_runs": self.store.allow_runs()}

    def tell_members(self) -> None:
        """Everyone's count of who is watching, and whether viewers may run code."""
        info = self.members()
        self._emit("room", {**info, "role": "presenter"}, to=self.presenters_channel)
        self._emit("room", {**info, "role": "viewer"}, to=self.channel)

    # -- what the presenter does -------------------------------------------------------------------

    def run_started(self, client: str) -> None:
        """The presenter ran code: the room now shows this run, from its first batch."""
        with self._relaying:
            self.store.start_run(client)
            self._emit("room_run", {}, to=self.channel)

    def relay(self, client: str, batch: list[dict], size: int) -> None:
        """A batch of a run, as sent to its client: the room's run goes to the viewers too."""
        with self._relaying:
            if not self.shows_run_of(client):
                return
            self.store.add_batch(batch, size)
            self._emit("trace", batch, to=self.channel)

    def sync(self, client: str, payload) -> str | None:
        """The presenter's view state: checked, kept and passed on. Why it was refused, if it
        was; then nothing changes."""
        if not self.is_presenter(client):
            return "only the presenter leads the room: a viewer's view is its own"
        problem = sync_problem(payload)
        if problem:
            return problem
        state = {key: payload.get(key) for key in SYNC_FIELDS}
        with self._relaying:  # a viewer being welcomed gets this one or a later one, last
            self.store.set_state(state)
            self._emit("sync", state, to=self.channel)
        return None

    def set_allow_runs(self, client: str, allow) -> str | None:
        if not self.is_presenter(client):
            return "only the presenter decides whether viewers may run code"
        if type(allow) is not bool:
            return "allow_runs expects true or false"
        self.store.set_allow_runs(allow)
        self.tell_members()
        return None

    # -- a viewer's questions about the room's run ---------------------------------------------

    def ask(self, kind: str, payload, answer) -> dict:
        """A viewer's `inspect` or `layout` of the room's run, answered by the process that ran it
        (``answer(kind, client, payload)`` when that is this one)."""
        runner = self.store.runner()
        if runner is None:
            return {"error": "the presenter has not run any code yet"}
        if runner[0] == self.store.process:
            return answer(kind, runner[1], payload)
        return self.store.ask(runner, kind, payload)

    def answer_asks(self, answer) -> None:
        """Forever: answer other processes' viewers about the room's run when it ran here."""
        def answer_for_room(kind: str, client: str, payload) -> dict:
            if not self.shows_run_of(client):
                return {"error": "the room shows another run now"}
            return answer(kind, client, payload)

        self.store.serve_asks(answer_for_room)

    def _emit(self, event: str, data, to: str) -> None:
        """To a channel, through the message queue if there is one (every process has members);
        to a connection, directly: a connection is this process's."""
        if self.socketio is not None:
            self.socketio.emit(event, data, to=to,
                               ignore_queue=to not in (self.channel, self.presenters_channel))


# The view state a presenter sends, and what each field may be.
SYNC_FIELDS = ("code", "step", "selected", "selected_name", "collapsed", "view", "internals")


def sync_problem(payload) -> str | None:
    """Why a `sync` message is malformed, or None. Every field is checked before any is kept."""
    if not isinstance(payload, dict):
        return "sync expects an object"
    unknown = set(payload) - set(SYNC_FIELDS)
    if unknown:
        return f"sync has unknown fields: {sorted(unknown)[:5]}"
    code = payload.get("code")
    if not isinstance(code, str) or len(code) > MAX_CODE_CHARS:
        return f"sync.code must be a string of at most {MAX_CODE_CHARS} characters"
    step = payload.get("step")
    if type(step) is not int or not 0 <= step <= MAX_STEP:
        return "sync.step must be a whole number of frames"
    selected = payload.get("selected")
    if selected is not None and (type(selected) is not int or not 0 <= selected <= 2**31):
        return "sync.selected must be a node id or null"
    name = payload.get("selected_name")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME_CHARS):
        return "sync.selected_name must be a short string or null"
    collapsed = payload.get("collapsed")
    if collapsed is not None and (
            not isinstance(collapsed, list) or len(collapsed) > MAX_GROUPS
            or any(not isinstance(p, str) or len(p) > MAX_NAME_CHARS for p in collapsed)):
        return "sync.collapsed must be a list of group paths or null"
    view = payload.get("view")
    if view is not None and not _is_view(view):
        return ("sync.view must be {cx, cy, scale, w, h, down}: finite numbers, a positive "
                "scale, a canvas size and whether the graph is drawn top to bottom")
    if type(payload.get("internals")) is not bool:
        return "sync.internals must be true or false"
    return None


def _is_view(view) -> bool:
    """{cx, cy, scale, w, h, down}: the world point at the centre of the presenter's canvas, its
    scale, the canvas's size in CSS pixels (a viewer fits the same region to its own canvas), and
    whether the graph is drawn top to bottom (the viewer draws it so too, or the point is
    elsewhere). ``down`` may be left out: across."""
    if not isinstance(view, dict) or not {"cx", "cy", "scale", "w", "h"} <= set(view) <= {
            "cx", "cy", "scale", "w", "h", "down"}:
        return False
    if type(view.get("down", False)) is not bool:
        return False
    numbers = [v for k, v in view.items() if k != "down"]
    return (all(type(v) in (int, float) and math.isfinite(v) and abs(v) < 1e9 for v in numbers)
            and view["scale"] > 0 and 0 < view["w"] < 1e5 and 0 < view["h"] < 1e5)
