"""Sending to browsers with a bound on what waits for each one.

Engine.IO queues every message for a client until that client reads it, without limit. A client
that never reads would grow the server by every event of its run. So each send first asks how
much is still queued for that client: past the cap, the client loses its run, and the server
keeps its memory.
"""

from __future__ import annotations

import socket
import threading
from collections import deque

from flask_socketio import SocketIO

REMEMBERED = 4096  # sizes of the latest batches per client; more queued than this is too slow


class ClientTooSlow(Exception):
    pass


class Outbox:
    def __init__(self, socketio: SocketIO, max_pending_bytes: int):
        self.socketio = socketio
        self.max_pending_bytes = max_pending_bytes
        self._sizes: dict[str, deque[int]] = {}
        self._lock = threading.Lock()

    def send(self, client: str, batch: list[dict], size: int = 0) -> None:
        """Queue ``batch`` (``size`` bytes as JSON) for ``client``, or raise ClientTooSlow when
        what it has not read yet is over the cap."""
        pending = self.pending(client)
        if pending > self.max_pending_bytes:
            raise ClientTooSlow(f"{pending / 2**20:.0f} MiB of this run's events are still "
                                f"waiting for the browser to read them (the limit is "
                                f"{self.max_pending_bytes / 2**20:.0f} MiB)")
        with self._lock:
            self._sizes.setdefault(client, deque(maxlen=REMEMBERED)).append(size)
        self.socketio.emit("trace", batch, to=client)

    def pending(self, client: str) -> int:
        """Bytes queued for ``client`` and not yet sent: the latest batches, as many as its
        Engine.IO queue holds."""
        queued = self._queued_messages(client)
        with self._lock:
            sizes = list(self._sizes.get(client, ()))
        if queued >= REMEMBERED:
            return self.max_pending_bytes + 1
        return sum(sizes[len(sizes) - queued:]) if queued else 0

    def forget(self, client: str) -> None:
        with self._lock:
            self._sizes.pop(client, None)

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
        self.forget(client)

    def _queued_messages(self, client: str) -> int:
        server = self.socketio.server
        eio_sid = server.manager.eio_sid_from_sid(client, "/")
        connection = server.eio.sockets.get(eio_sid) if eio_sid else None
        return connection.queue.qsize() if connection is not None else 0
