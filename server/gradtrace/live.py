"""Socket.IO handlers: check what arrives, then hand it to Sessions. Kept thin on purpose.

Client to server: `run` {code, device?}, `stop`, `inspect` {summary}, {variable} or {node}, and
`layout` {collapsed, nodes?} (each answered in its acknowledgement). Server to client: `trace`, a
batch (JSON list) of events; docs/protocol.md lists them.
"""

from __future__ import annotations

import hmac
import threading

from flask import request
from flask_socketio import ConnectionRefusedError, SocketIO

from gradtrace.protocol import rejected_event

MAX_CODE_BYTES = 64 * 1024


def register(socketio: SocketIO, sessions, devices: tuple[str, ...], token: str,
             forget=lambda client: None) -> None:
    def reject(reason: str) -> None:
        socketio.emit("trace", [rejected_event(reason)], to=request.sid)

    @socketio.on("connect")
    def connect(auth=None):
        given = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), token.encode()):
            _hang_up_soon(socketio, request.sid)
            raise ConnectionRefusedError("a valid token is required: open the URL that "
                                         "gradtrace printed, with its ?token=")

    @socketio.on("disconnect")
    def disconnect(*args):
        sessions.forget(request.sid)  # a disconnect kills the run and drops what was kept
        forget(request.sid)

    @socketio.on("run")
    def run(payload=None):
        problem = _check_run(payload, devices)
        if problem:
            return reject(problem)
        device = payload.get("device") or "cpu"
        problem = sessions.start(request.sid, payload["code"], device,
                                 owner=request.remote_addr or "")
        if problem:
            reject(problem)

    @socketio.on("inspect")
    def inspect(payload=None):
        return sessions.kept.answer(request.sid, payload)

    @socketio.on("layout")
    def view(payload=None):
        return sessions.kept.view(request.sid, payload)

    @socketio.on("stop")
    def stop(*args):
        if not sessions.stop(request.sid):
            reject("nothing is running")

    @socketio.on_error_default
    def on_error(exc):
        reject(f"the server could not handle that event: {type(exc).__name__}")


def _hang_up_soon(socketio: SocketIO, sid: str) -> None:
    """A refused Socket.IO connect leaves the Engine.IO connection open; close it once the
    refusal has gone out, so a client without the token holds no connection."""
    eio_sid = socketio.server.manager.eio_sid_from_sid(sid, "/")
    timer = threading.Timer(0.5, socketio.server.eio.disconnect, args=(eio_sid,))
    timer.daemon = True
    timer.start()


def _check_run(payload, devices: tuple[str, ...]) -> str | None:
    if not isinstance(payload, dict):
        return "run expects an object: {code, device}"
    code = payload.get("code")
    if not isinstance(code, str):
        return "run needs `code`, a string of Python"
    if len(code.encode("utf-8", "replace")) > MAX_CODE_BYTES:
        return f"the code is over {MAX_CODE_BYTES // 1024} KiB"
    device = payload.get("device") or "cpu"
    if device not in devices:
        return f"unknown device {device!r}: this server has {', '.join(devices)}"
    return None
