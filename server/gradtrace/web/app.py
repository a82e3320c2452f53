"""The Flask app: HTTP routes and the Socket.IO server. Never imports torch."""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import sys
from pathlib import Path

from flask import Flask, jsonify, render_template, request
from flask_socketio import SocketIO

from gradtrace.runner import cgroups
from gradtrace.runner.isolation import detect
from gradtrace.runner.limits import RunLimits
from gradtrace.runner.pool import WarmPool
from gradtrace.runner.sandbox import gpu_nodes
from gradtrace.runner.selftest import SelfTest
from gradtrace.trace.jsonio import SocketIOJson
from gradtrace.web import live
from gradtrace.web.classroom import Classroom
from gradtrace.web.devices import Devices, cuda_absent_reason
from gradtrace.web.guard import HostGuard, SocketGate, allowed_hosts
from gradtrace.web.outbox import Outbox
from gradtrace.web.roomqueue import CheckedRedisManager
from gradtrace.web.roomstore import LocalRoom, RedisRoom
from gradtrace.web.sessions import PooledDevice, Sessions
from gradtrace.web.standalone import ASSETS, standalone_page

ROOT = ASSETS  # static/, templates/ and examples/

# Every response but the standalone template's: only this server's own scripts, styles and
# sockets (so markup that slipped into the page could run nothing), the classroom's QR code as a
# data: image, and no framing (clickjacking). Inline styles set from script (CodeMirror) are CSSOM,
# which style-src does not cover.
PAGE_POLICY = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

DEFAULTS = {
    "TIMEOUT": 30.0,  # seconds a run may take
    "MAX_RUNS": os.cpu_count() or 1,  # runs at once; the others queue
    "TOKEN": None,  # required from every client; a random one when not given
    "HOST": "127.0.0.1",  # the address served: with loopback, the only Host header let in
    "ALLOWED_HOSTS": (),  # further names the server answers to (a DNS name for a classroom)
    "MAX_CONNECTIONS": 512,
    "MAX_CONNECTIONS_PER_ADDRESS": 32,
    "MAX_PENDING_BYTES": 32 * 1024 * 1024,  # queued for one browser before it loses its run
    # what every client's last run may keep on the server together (values for `inspect`, graphs
    # for `layout`): new runs are refused past it, before the server's memory runs short
    "KEPT_BUDGET_MB": min(4096, os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
                          // 2**20 // 4),
    "USE_BWRAP": True,
    "RUN_MEMORY_MB": RunLimits.run_memory_mb,  # all of a run's processes together (its cgroup)
    "RUN_CPUS": RunLimits.cpus,  # cores a run may use, and torch threads it runs (serve --cpus)
    "EXAMPLES_DIR": str(ROOT / "examples"),
    "ROOM": None,  # a classroom's room id (serve --classroom): its presenter leads its viewers
    "VIEWER_URL": None,  # the classroom's viewer link, for the presenter's QR code
    "REDIS": None,  # a Redis URL: several processes serve the classroom (serve --redis)
    # Engine.IO pings every PING_INTERVAL s and waits PING_TIMEOUT s for the answer. A classroom
    # pings every 10 s, so a laptop closed mid-lesson leaves the count in about half a minute,
    # and a slow laptop busy with a big run still has 20 s to answer.
    "PING_INTERVAL": None,  # 10 in a classroom, else Engine.IO's 25
    "PING_TIMEOUT": 20,
    # CUDA runs take warm workers from a pool (runner/pool.py): CUDA_POOL of them kept ready (0
    # turns CUDA off), CUDA_RUNS at once, each held to GPU_MEMORY_MB of the GPU (None: an even
    # share of 80% of it).
    "CUDA_POOL": 2,
    "CUDA_RUNS": 1,
    "GPU_MEMORY_MB": None,
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
    # A room served by several processes: its events go to every one through Redis, checked
    queue = ({"client_manager": CheckedRedisManager(redis, "gradtrace", app.config["ROOM"])}
             if redis else {})
    socketio = SocketIO(app, async_mode="threading", max_http_buffer_size=16 * 1024 * 1024,
                        json=SocketIOJson, **queue, **pings)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on the console
    isolation = detect(app.config["USE_BWRAP"])
    devices = Devices(lambda report: socketio.emit("capabilities", report, ignore_queue=True))

    outbox = Outbox(socketio, int(app.config["MAX_PENDING_BYTES"]))
    classroom = None
    if app.config["ROOM"]:
        store = RedisRoom(redis, app.config["ROOM"]) if redis else LocalRoom()
        classroom = Classroom(app.config["ROOM"], socketio, app.config["VIEWER_URL"], outbox,
                              store)
    app.extensions["classroom"] = classroom

    def send(client: str, batch: list[dict]) -> None:
        outbox.send(client, batch)
        if classroom is not None:  # the presenter's run goes to the room too
            classroom.relay(client, batch)

    limits = RunLimits(timeout=float(app.config["TIMEOUT"]),
                       run_memory_mb=int(app.config["RUN_MEMORY_MB"]),
                       cpus=float(app.config["RUN_CPUS"]))
    self_tests = {}
    run_cgroups = cgroups.for_runs(isolation.sandbox)  # every run's, zygote's or pool's
    cuda = _cuda(app.config, isolation, limits, devices, self_tests, run_cgroups)
    sessions = Sessions(send, limits, int(app.config["MAX_RUNS"]), isolation, outbox.hang_up,
                        {"cuda": cuda} if cuda else None,
                        kept_budget=int(app.config["KEPT_BUDGET_MB"]) * 2**20,
                        run_cgroups=run_cgroups)
    app.extensions["gradtrace"] = sessions
    if classroom is not None:
        socketio.start_background_task(classroom.keep_up, sessions.kept.forget)
    self_tests["cpu"] = SelfTest(sessions.zygote.spawn, limits, "cpu", isolation,
                                 cgroups=bool(sessions.cgroups.parents))
    app.extensions["self_test"] = self_tests["cpu"]
    live.register(socketio, sessions, devices, app.config["TOKEN"], classroom)
    app.wsgi_app = SocketGate(app.wsgi_app, app.config["TOKEN"],
                              classroom.id if classroom is not None else None)
    app.wsgi_app = HostGuard(app.wsgi_app, allowed_hosts(app.config["HOST"],
                                                         tuple(app.config["ALLOWED_HOSTS"])))

    @app.after_request
    def page_policy(response):
        if request.path != "/standalone":  # a template the export fills: its scripts are inline
            response.headers.update(PAGE_POLICY)
        return response

    @app.get("/")
    def index():
        return render_template("index.html", capabilities=devices.report())

    @app.get("/standalone")
    def standalone():
        """The page as one file, for the page's "Standalone HTML" export to fill with a run
        (made at the first request, once: a classroom asks many times)."""
        page = standalone_page(Path(app.static_folder), Path(app.template_folder))
        return page, {"Content-Type": "text/html; charset=utf-8"}

    @app.get("/healthz")
    def healthz():
        zygote = sessions.zygote.alive()
        tests = {device: test.report() for device, test in list(self_tests.items())}
        return jsonify(ok=zygote and all(t["status"] != "failed" for t in tests.values()),
                       zygote=zygote, self_test=tests["cpu"], self_tests=tests,
                       zygote_restarts=sessions.zygote.restarts, running=sessions.running(),
                       kept_runs=len(sessions.kept), cgroups=sessions.cgroups.describe(),
                       kept_mb=sessions.kept.total_bytes() // 2**20,
                       kept_budget_mb=sessions.kept_budget // 2**20,
                       isolation=isolation.describe(), sandbox=isolation.sandbox,
                       bubblewrap=bool(isolation.prefix), isolation_problems=isolation.problems,
                       device_isolation=device_isolation(isolation, devices),
                       devices=list(devices.ids()), capabilities=devices.report(),
                       pools={device: pool.pool.status()
                              for device, pool in sessions.pooled.items()},
                       torch_imported="torch" in sys.modules)

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


def _cuda(config, isolation, limits: RunLimits, devices: Devices, self_tests: dict,
          run_cgroups: cgroups.Delegation) -> PooledDevice | None:
    """CUDA's warm pool, when this host may have a GPU. Its first worker tells ``devices`` what
    it found; once it found a GPU, the CUDA self-test runs through the pool."""
    reason = cuda_absent_reason(int(config["CUDA_POOL"]) > 0)
    if reason:
        devices.cuda_absent(reason)
        return None
    runs = max(1, int(config["CUDA_RUNS"]))
    cuda_limits = dataclasses.replace(limits, gpu_memory_mb=int(config["GPU_MEMORY_MB"] or 0),
                                      gpu_share=0.8 / runs)

    def found(report: dict) -> None:
        devices.cuda_found(report)
        if "problem" not in report:
            self_tests["cuda"] = SelfTest(cuda.start, cuda_limits, "cuda", isolation)

    devices.cuda_starting()
    pool = WarmPool("cuda", int(config["CUDA_POOL"]), isolation, found,
                    lambda uid: cgroups.for_spawned_run(run_cgroups, uid, cuda_limits))
    cuda = PooledDevice(pool, runs, cuda_limits)
    return cuda


def device_isolation(isolation, devices: Devices) -> dict:
    """How a run on each device is kept in: a CUDA run also has the NVIDIA device nodes."""
    cuda = next(d for d in devices.report()["devices"] if d["id"] == "cuda")
    if not cuda["available"]:
        return {"cpu": isolation.describe(), "cuda": f"unavailable: {cuda['reason']}"}
    nodes = ", ".join(gpu_nodes()) if isolation.prefix else "the host's whole /dev"
    return {"cpu": isolation.describe(), "cuda": f"{isolation.describe()}; devices: {nodes}"}
