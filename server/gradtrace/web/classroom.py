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
import threading
import time

import segno

from gradtrace.web.roommessages import SYNC_FIELDS, room_channels, sync_problem
from gradtrace.web.roomstore import LocalRoom

logger = logging.getLogger(__name__)

LOOK_EVERY = 0.25  # seconds between looks at what waits for each viewer
RENEW_EVERY = 40  # looks: the room's part in the store is renewed every 10 s
CATCH_UP_WAIT = 60.0  # seconds a late joiner may take to read half the cap, before it is dropped
CATCH_UP_LOCKED = 64  # batches at most that a catch-up sends while relaying waits for it
TRACE_PACKET = '2["trace",%s]'  # a Socket.IO event packet (2) on the default namespace


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
        return room_channels(self.id)[0]

    @property
    def presenters_channel(self) -> str:
        return room_channels(self.id)[1]

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
                    for text in fresh:
                        self._replay(client, text)
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
            for text in fresh:  # relaying goes on meanwhile, kept for the next look
                if not self._read_enough(client):
                    return
                self._replay(client, text)
                sent += 1
        self._emit("welcomed", {}, to=client)  # the room as it was: a presenter leads from here
        self.tell_members()

    def _replay(self, client: str, text: bytes) -> None:
        """A batch of the room's run, as the JSON text the store keeps, to one member: sent as
        it is, a Socket.IO `trace` event, not decoded and encoded again. (Empty: the store
        refused it.)"""
        if not text or self.socketio is None:
            return
        server = self.socketio.server
        connection = server.manager.eio_sid_from_sid(client, "/")
        if connection is not None:
            server.eio.send(connection, TRACE_PACKET % text.decode())

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
        hung up, if it does not read that much in CATCH_UP_WAIT. False too once it has left:
        its replay stops."""
        if client not in self.viewers and client not in self.presenters:
            return False
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

    def relay(self, client: str, batch: list[dict]) -> None:
        """A batch of a run, as sent to its client: the room's run goes to the viewers too."""
        with self._relaying:
            if not self.shows_run_of(client):
                return
            self.store.add_batch(batch)
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
