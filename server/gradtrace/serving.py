"""The HTTP server: werkzeug's threaded server, with a cap on connections in all and from any one
address, so that a flood of idle or unauthenticated connections costs a bounded number of threads.

A connection over a cap is answered 503 with the reason and closed at once, before a thread is
started for it. A client that stops reading is cut off once a send has waited SEND_TIMEOUT: its
queued events go with it, not the server's memory.
"""

from __future__ import annotations

import resource
import socket
import threading
from collections import Counter

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

SEND_TIMEOUT = 60.0  # seconds a blocked send may wait (Engine.IO pings every 25 s, so a live
# client always has something to read well within it) before that client is dropped


class ConnectionCaps:
    def __init__(self, total: int, per_address: int):
        self.total = total
        self.per_address = per_address
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def admit(self, address: str) -> str | None:
        """None when the connection may proceed (and is counted); else why not."""
        with self._lock:
            if sum(self._open.values()) >= self.total:
                return f"the server has its maximum of {self.total} connections"
            if self._open[address] >= self.per_address:
                return f"your address has its maximum of {self.per_address} connections"
            self._open[address] += 1
            return None

    def release(self, address: str) -> None:
        with self._lock:
            self._open[address] -= 1
            if self._open[address] <= 0:
                del self._open[address]

    def count(self) -> int:
        with self._lock:
            return sum(self._open.values())


class QuietHandler(WSGIRequestHandler):
    def log_error(self, format, *args):
        # A WebSocket's closing frame that comes after its handler has ended is read as the next
        # HTTP request and answered 400: one line of binary noise for every viewer who leaves.
        if args and args[0] == 400:
            return
        super().log_error(format, *args)


class BoundedServer(ThreadedWSGIServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, app, caps: ConnectionCaps):
        super().__init__(host, port, app, handler=QuietHandler)
        self.caps = caps

    def process_request(self, request, client_address):
        address = client_address[0]
        refusal = self.caps.admit(address)
        if refusal:
            _refuse(request, refusal)
            self.shutdown_request(request)
            return
        request.settimeout(SEND_TIMEOUT)  # reads wait on selectors; this bounds blocked sends
        try:
            super().process_request(request, client_address)
        except Exception:
            self.caps.release(address)
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.caps.release(client_address[0])


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
