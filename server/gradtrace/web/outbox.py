"""Sending to browsers with a bound on what waits for each one.

Engine.IO queues every message for a client until that client reads it, without limit. A client
that never reads would grow the server by every event of its run. So what is still queued for a
client is measured: a run's client past the cap loses its run (each send asks first), a
classroom's viewer past it is hung up (the room asks a few times a second, classroom.py), and the
server keeps its memory.
"""

from __future__ import annotations

import socket

from flask_socketio import SocketIO


class ClientTooSlow(Exception):
    pass


class Outbox:
    def __init__(self, socketio: SocketIO, max_pending_bytes: int):
        self.socketio = socketio
        self.max_pending_bytes = max_pending_bytes

    def send(self, client: str, batch: list[dict]) -> None:
        """Queue ``batch`` for ``client``, or raise ClientTooSlow when what it has not read yet
        is over the cap."""
        pending = self.pending(client)
        if pending > self.max_pending_bytes:
            raise ClientTooSlow(f"{pending / 2**20:.0f} MiB of this run's events are still "
                                f"waiting for the browser to read them (the limit is "
                                f"{self.max_pending_bytes / 2**20:.0f} MiB)")
        self.socketio.emit("trace", batch, to=client, ignore_queue=True)  # a client of ours

    def too_slow(self, client: str) -> bool:
        return self.pending(client) > self.max_pending_bytes

    def pending(self, client: str) -> int:
        """Bytes queued for ``client`` and not yet taken by its writer: the messages in its
        Engine.IO queue, as encoded. Of this process's clients only."""
        connection = self._connection(client)
        if connection is None:
            return 0
        queued = list(connection.queue.queue)  # a copy: the writer takes from the front
        sizes = (getattr(packet, "data", None) for packet in queued)  # None: the end of queue
        return sum(len(data) for data in sizes if isinstance(data, (str, bytes)))

    def hang_up(self, client: str) -> None:
        """Drop a client now, and what waits for it. Its writer thread may be blocked sending
        to a client that does not read: shutting the TCP socket down frees it at once."""
        server = self.socketio.server
        eio_sid = server.manager.eio_sid_from_sid(client, "/")
        raw = server.environ.get(eio_sid, {}).get("werkzeug.socket")
        if raw is not None:
            try:
                raw.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        connection = server.eio.sockets.get(eio_sid)
        if connection is not None:
            connection.close(wait=False, abort=True)

    def _connection(self, client: str):
        server = self.socketio.server
        eio_sid = server.manager.eio_sid_from_sid(client, "/")
        return server.eio.sockets.get(eio_sid) if eio_sid else None
