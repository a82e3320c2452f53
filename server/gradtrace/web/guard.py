"""Who may talk to the server at all: a Host allowlist and an Origin check, in front of every
route and the Socket.IO endpoint, so that no web page can drive a gradtrace it found on a port;
and, at the Socket.IO endpoint, the token before any session is made.

DNS rebinding points a name the attacker owns at 127.0.0.1: the browser then sends the attacker's
page to our port with the attacker's name in Host. Only names this server was started for are
let in; any other Host, or a cross-site Origin, gets 403 and a sentence that says why.
"""

from __future__ import annotations

import hmac
import socket
from urllib.parse import parse_qs, urlsplit

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::", "")


def allowed_hosts(bind_host: str, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """Loopback, the host the server binds to, and, when it binds to every interface, this
    machine's own names and addresses."""
    names = {*LOOPBACK_NAMES, bind_host.strip("[]").lower(), *(h.lower() for h in extra)}
    if bind_host in WILDCARDS:
        for name in {socket.gethostname(), socket.getfqdn()}:
            names.add(name.lower())
            try:
                names.update(info[4][0] for info in socket.getaddrinfo(name, None))
            except OSError:
                pass
    names.discard("")
    return frozenset(names)


def host_name(value: str) -> str:
    """The host part of a Host header: `[::1]:5000` -> `::1`, `Example.org:80` -> `example.org`."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class HostGuard:
    """WSGI middleware: refuse requests whose Host or Origin is not one of ours."""

    def __init__(self, app, hosts: frozenset[str]):
        self.app = app
        self.hosts = hosts

    def __call__(self, environ, start_response):
        problem = self.problem(environ.get("HTTP_HOST", ""), environ.get("HTTP_ORIGIN"))
        if problem is None:
            return self.app(environ, start_response)
        return _refuse(start_response, "403 Forbidden", problem)

    def problem(self, host: str, origin: str | None) -> str | None:
        if host_name(host) not in self.hosts:
            return (f"the Host {host!r} is not one this server answers to (a guard against DNS "
                    "rebinding); open it by its own address, or start it with --host")
        if origin is not None and origin != "null":
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or (parts.hostname or "") not in self.hosts:
                return f"requests from the page at {origin!r} are not allowed"
        elif origin == "null":
            return "requests from an opaque origin (a sandboxed frame or a file) are not allowed"
        return None


class SocketGate:
    """WSGI middleware in front of the Socket.IO endpoint: WebSocket only, and the token (or, in
    a classroom, the room's id) in the handshake's query, checked before Engine.IO sees the
    request. Engine.IO makes a session for every handshake it answers, and for a polling one a
    thread that waits 25 s for the next request: strangers with no token made thousands. Here a
    stranger costs one short request. The Socket.IO connect handler checks the same again."""

    def __init__(self, app, token: str, room: str | None = None, path: str = "/socket.io/"):
        self.app = app
        self.secrets = [token.encode(), *([room.encode()] if room else [])]
        self.path = path

    def __call__(self, environ, start_response):
        if not environ.get("PATH_INFO", "").startswith(self.path):
            return self.app(environ, start_response)
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if query.get("transport") != ["websocket"]:
            return _refuse(start_response, "400 Bad Request", "gradtrace's socket is WebSocket "
                           "only: connect with transports: ['websocket']")
        given = [v.encode() for key in ("token", "room") for v in query.get(key, [])[:1]]
        if not any(hmac.compare_digest(g, s) for g in given for s in self.secrets):
            return _refuse(start_response, "401 Unauthorized", "a valid token is required: open "
                           "the URL that gradtrace printed, with its ?token=")
        return self.app(environ, start_response)


def _refuse(start_response, status: str, reason: str) -> list[bytes]:
    body = f"gradtrace refused this request: {reason}\n".encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body))), ("Connection", "close")])
    return [body]
