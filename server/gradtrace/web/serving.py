"""The HTTP server: werkzeug's threaded server, with a cap on connections in all and from any one
address, so that a flood of idle or unauthenticated connections costs a bounded number of threads.

A connection over a cap is answered 503 with the reason and closed at once, before a thread is
started for it. A client that stops reading is cut off once a send has waited SEND_TIMEOUT: its
queued events go with it, not the server's memory.

Slowloris (requests whose headers never end, from many addresses) cannot hold the caps either: a
request's line and headers must arrive within HEADERS_WITHIN, and at most HALF_OPEN connections
may be waiting for theirs at once; one more closes the one that has waited longest, once it has
waited SLOW. A real client's headers take milliseconds, so only the slow ones are closed.
"""

from __future__ import annotations

import contextlib
import io
import resource
import socket
import threading
import time
from collections import Counter, OrderedDict

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

SEND_TIMEOUT = 60.0  # seconds a blocked send may wait (Engine.IO pings every 25 s, so a live
# client always has something to read well within it) before that client is dropped
HEADERS_WITHIN = 10.0  # seconds for a request's line and headers, however they trickle in
HALF_OPEN = 64  # connections whose headers have not all come yet
SLOW = 1.0  # seconds waiting for headers after which a connection may be closed for a newer one


class ConnectionCaps:
    def __init__(self, total: int, per_address: int, half_open: int = HALF_OPEN):
        self.total = total
        self.per_address = per_address
        self.half_open = half_open
        self._open: Counter[str] = Counter()
        self._waiting: OrderedDict[socket.socket, float] = OrderedDict()  # since when, oldest 1st
        self._lock = threading.Lock()

    def admit(self, address: str, connection: socket.socket | None = None) -> str | None:
        """None when the connection may proceed (and is counted, and until ``greeted`` is
        waiting for its headers); else why not. Past HALF_OPEN waiting, the longest waiting is
        shut down to make room, if it has waited SLOW."""
        with self._lock:
            now = time.monotonic()
            if len(self._waiting) >= self.half_open:
                oldest, since = next(iter(self._waiting.items()))
                if now - since >= SLOW:  # (a burst of real clients is young: let it through)
                    del self._waiting[oldest]
                    with contextlib.suppress(OSError):
                        oldest.shutdown(socket.SHUT_RDWR)  # its thread's read ends: released
            if sum(self._open.values()) >= self.total:
                return f"the server has its maximum of {self.total} connections"
            if self._open[address] >= self.per_address:
                return f"your address has its maximum of {self.per_address} connections"
            self._open[address] += 1
            if connection is not None:
                self._waiting[connection] = now
            return None

    def greeted(self, connection: socket.socket) -> None:
        """Its request's headers have all come: it no longer waits for them."""
        with self._lock:
            self._waiting.pop(connection, None)

    def release(self, address: str, connection: socket.socket | None = None) -> None:
        with self._lock:
            self._waiting.pop(connection, None)
            self._open[address] -= 1
            if self._open[address] <= 0:
                del self._open[address]

    def count(self) -> int:
        with self._lock:
            return sum(self._open.values())


class _HeaderClock(io.RawIOBase):
    """A connection's reads, each given only the time left of HEADERS_WITHIN while a request's
    line and headers come (``deadline`` set), so that a byte now and then cannot keep it open."""

    def __init__(self, connection: socket.socket):
        self.connection = connection
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request's headers did not come in time")
            self.connection.settimeout(left)
        return self.connection.recv_into(buffer)


class QuietHandler(WSGIRequestHandler):
    def setup(self):
        super().setup()
        self.clock = _HeaderClock(self.connection)
        self.rfile = io.BufferedReader(self.clock)

    def handle_one_request(self):
        # (a TimeoutError from the clock closes the connection: http.server catches it)
        self.clock.deadline = time.monotonic() + HEADERS_WITHIN
        super().handle_one_request()

    def parse_request(self) -> bool:
        ok = super().parse_request()
        self.clock.deadline = None  # the body, and a WebSocket's frames, are not on the clock
        self.connection.settimeout(SEND_TIMEOUT)
        self.server.caps.greeted(self.connection)
        return ok

    def log_error(self, format, *args):
        # A WebSocket's closing frame that comes after its handler has ended is read as the next
        # HTTP request and answered 400: one line of binary noise for every viewer who leaves.
        # And a slow request's timeout is what HEADERS_WITHIN is for: a line each, a flood.
        if args and args[0] == 400 or format.startswith("Request timed out"):
            return
        super().log_error(format, *args)


class BoundedServer(ThreadedWSGIServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, app, caps: ConnectionCaps):
        super().__init__(host, port, app, handler=QuietHandler)
        self.caps = caps

    def process_request(self, request, client_address):
        address = client_address[0]
        refusal = self.caps.admit(address, request)
        if refusal:
            _refuse(request, refusal)
            self.shutdown_request(request)
            return
        request.settimeout(SEND_TIMEOUT)  # reads wait on selectors; this bounds blocked sends
        try:
            super().process_request(request, client_address)
        except Exception:
            self.caps.release(address, request)
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.caps.release(client_address[0], request)


def _refuse(request: socket.socket, reason: str) -> None:
    body = f"gradtrace: {reason}; try again later\n".encode()
    head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nRetry-After: 5\r\n\r\n")
    try:
        request.setblocking(False)
        request.send(head.encode() + body)
    except OSError:
        pass


def raise_open_file_limit() -> None:
    """Each connection is a descriptor: let the caps, not the default 1024, be the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY
                                                    else 65536, hard))


def serve(app, host: str, port: int, caps: ConnectionCaps) -> None:
    raise_open_file_limit()
    server = BoundedServer(host, port, app, caps)
    try:
        server.serve_forever()
    finally:
        server.server_close()
