"""The Flask app: HTTP routes and the Socket.IO server. Never imports torch."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sys
from pathlib import Path

from flask import Flask, jsonify, render_template
from flask_socketio import SocketIO

from gradtrace import live
from gradtrace.classroom import Classroom
from gradtrace.guard import HostGuard, allowed_hosts
from gradtrace.jsonio import SocketIOJson
from gradtrace.outbox import Outbox
from gradtrace.roomstore import LocalRoom, RedisRoom
from gradtrace.runner.isolation import detect
from gradtrace.runner.limits import RunLimits
from gradtrace.runner.selftest import SelfTest
from gradtrace.sessions import Sessions
from gradtrace.standalone import standalone_page

ROOT = Path(__file__).resolve().parent.parent.parent

DEFAULTS = {
    "TIMEOUT": 30.0,  # seconds a run may take
    "MAX_RUNS": os.cpu_count() or 1,  # runs at once; the others queue
    "TOKEN": None,  # required from every client; a random one when not given
    "HOST": "127.0.0.1",  # the address served: with loopback, the only Host header let in
    "ALLOWED_HOSTS": (),  # further names the server answers to (a DNS name for a classroom)
    "MAX_CONNECTIONS": 512,
    "MAX_CONNECTIONS_PER_ADDRESS": 32,
    "MAX_PENDING_BYTES": 32 * 1024 * 1024,  # queued for one browser before it loses its run
    "USE_BWRAP": True,
    "EXAMPLES_DIR": str(ROOT / "examples"),
    "ROOM": None,  # a classroom's room id (serve --classroom): its presenter leads its viewers
    "VIEWER_URL": None,  # the classroom's viewer link, for the presenter's QR code
    "REDIS": None,  # a Redis URL: several processes serve the classroom (serve --redis)
    # Engine.IO pings every PING_INTERVAL s and waits PING_TIMEOUT s for the answer. A classroom
    # pings every 10 s, so a laptop closed mid-lesson leaves the count in about half a minute,
    # and a slow laptop busy with a big run still has 20 s to answer.
    "PING_INTERVAL": None,  # 10 in a classroom, else Engine.IO's 25
    "PING_TIMEOUT": 20,
}


def create_app(config: dict | None = None) -> Flask:
    """The app; its SocketIO server is ``app.extensions["socketio"]`` and its runs
    ``app.extensions["gradtrace"]``."""
    app = Flask(__name__, template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "static"))
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    app.config["TOKEN"] = app.config["TOKEN"] or secrets.token_urlsafe(24)
    redis = app.config["REDIS"]
    pings = {"ping_interval": app.config["PING_INTERVAL"] or (10 if app.config["ROOM"] else 25),
             "ping_timeout": app.config["PING_TIMEOUT"]}
    # A message larger than this closes the connection with no word said, so it sits well above
    # live.MAX_CODE_BYTES: a too-long snippet is answered with the limit instead.
    socketio = SocketIO(app, async_mode="threading", max_http_buffer_size=16 * 1024 * 1024,
                        json=SocketIOJson, message_queue=redis,
                        channel="gradtrace", **pings)  # its events, to every process of a room
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on the console
    isolation = detect(app.config["USE_BWRAP"])
    devices = ("cpu", "cuda") if _has_cuda() else ("cpu",)

    outbox = Outbox(socketio, int(app.config["MAX_PENDING_BYTES"]))
    classroom = None
    if app.config["ROOM"]:
        store = RedisRoom(redis, app.config["ROOM"]) if redis else LocalRoom()
        classroom = Classroom(app.config["ROOM"], socketio, app.config["VIEWER_URL"], outbox,
                              store)
    app.extensions["classroom"] = classroom

    def send(client: str, batch: list[dict], size: int = 0) -> None:
        outbox.send(client, batch)
        if classroom is not None:  # the presenter's run goes to the room too
            classroom.relay(client, batch, size)

    sessions = Sessions(send, RunLimits(timeout=float(app.config["TIMEOUT"])),
                        int(app.config["MAX_RUNS"]), isolation, outbox.hang_up)
    app.extensions["gradtrace"] = sessions
    if classroom is not None:
        socketio.start_background_task(classroom.keep_up, sessions.kept.forget)
    self_test = SelfTest(sessions.zygote.spawn, sessions.limits)
    app.extensions["self_test"] = self_test
    live.register(socketio, sessions, devices, app.config["TOKEN"], classroom)
    app.wsgi_app = HostGuard(app.wsgi_app, allowed_hosts(app.config["HOST"],
                                                         tuple(app.config["ALLOWED_HOSTS"])))

    @app.get("/")
    def index():
        return render_template("index.html", devices=devices)

    bundled: list[str] = []  # made at the first request, once: a classroom asks many times

    @app.get("/standalone")
    def standalone():
        """The page as one file, for the page's "Standalone HTML" export to fill with a run."""
        if not bundled:
            bundled.append(standalone_page(Path(app.static_folder), devices))
        return bundled[0], {"Content-Type": "text/html; charset=utf-8"}

    @app.get("/healthz")
    def healthz():
        zygote = sessions.zygote.alive()
        return jsonify(ok=zygote and self_test.status != "failed", zygote=zygote,
                       self_test=self_test.report(),
                       zygote_restarts=sessions.zygote.restarts, running=sessions.running(),
                       kept_runs=len(sessions.kept),
                       isolation=isolation.describe(), sandbox=isolation.sandbox,
                       bubblewrap=bool(isolation.prefix), isolation_problems=isolation.problems,
                       devices=list(devices), torch_imported="torch" in sys.modules)

    @app.get("/api/examples")
    def examples():
        return jsonify(list_examples(Path(app.config["EXAMPLES_DIR"])))

    return app


def list_examples(folder: Path) -> list[dict]:
    """Each example: its path (group/name), its title (the first comment line) and its code."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        code = path.read_text(encoding="utf-8")
        first = code.splitlines()[0] if code else ""
        title = first.removeprefix("#").strip().removeprefix("Title:").strip() or path.stem
        found.append({"name": str(path.relative_to(folder).with_suffix("")),
                      "group": path.parent.name, "title": title, "code": code})
    return found


def _has_cuda() -> bool:
    """Whether runs may ask for CUDA, without importing torch here."""
    return shutil.which("nvidia-smi") is not None or Path("/dev/nvidia0").exists()
