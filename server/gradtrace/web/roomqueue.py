"""The classroom's message queue on Redis (`serve --redis`): what one process emits to the room's
channels reaches the members on every other process through it.

Anyone who can write to that Redis can publish on the queue too. So what comes from another
process is checked before it reaches a member, as a worker's events are: only the four events a
room sends to its channels (classroom.py), each of them well formed, and nothing else. The
queue's other messages (disconnect a connection, move it between rooms, answer a callback) are
refused: every process disconnects and moves only its own connections, so it never needs them.
"""

from __future__ import annotations

import logging

import socketio

from gradtrace.trace.untrusted import check_relayed
from gradtrace.web.roommessages import room_channels, room_info_problem, sync_problem

logger = logging.getLogger(__name__)


class CheckedRedisManager(socketio.RedisManager):
    """Flask-SocketIO's Redis queue for the classroom ``room``, checking what others publish."""

    def __init__(self, url: str, channel: str, room: str):
        super().__init__(url, channel=channel)
        self.room = room
        self.channels = room_channels(room)

    def _handle_emit(self, message):
        if message.get("host_id") != self.host_id:  # not this process's own emit
            problem = self.emit_problem(message)
            if problem:
                logger.warning("refused a message from Redis: %s", problem)
                return
        super()._handle_emit(message)

    def emit_problem(self, message: dict) -> str | None:
        """Why an emit another process published must not reach this process's members."""
        event, room, data = message.get("event"), message.get("room"), message.get("data")
        if room not in self.channels or message.get("namespace") != "/":
            return "an emit to no channel of this room"
        if message.get("binary") or message.get("callback") or message.get("skip_sid"):
            return "an emit with binary data, a callback or a skipped connection"
        if type(data) is not list or len(data) != 1:
            return "an emit whose data is not one value"
        payload = data[0]
        if event == "trace":
            return check_relayed(payload)
        if event == "sync":
            return sync_problem(payload)
        if event == "room":
            return room_info_problem(payload, self.room)
        if event == "room_run":
            return None if payload == {} else "room_run carries nothing"
        return f"an emit of an event the room never sends: {str(event)[:40]!r}"

    def _handle_disconnect(self, message):
        self._own_only(message, super()._handle_disconnect)

    def _handle_enter_room(self, message):
        self._own_only(message, super()._handle_enter_room)

    def _handle_leave_room(self, message):
        self._own_only(message, super()._handle_leave_room)

    def _handle_close_room(self, message):
        self._own_only(message, super()._handle_close_room)

    def _handle_callback(self, message):
        logger.warning("refused a callback from Redis: the room asks none across processes")

    def _own_only(self, message: dict, handle) -> None:
        if message.get("host_id") == self.host_id:
            handle(message)
        else:
            logger.warning("refused a %r from Redis: each process manages its own connections",
                           message.get("method"))
