"""Hostile clients against the real server, over loopback only: foreign Hosts and Origins, no
token, floods of idle connections, a client that never reads, and one address queueing many runs.
"""

import base64
import contextlib
import json
import os
import resource
import socket
import statistics
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import socketio

from conftest import forging
from gradtrace.web.app import create_app
from gradtrace.web.serving import BoundedServer, ConnectionCaps
from gradtrace.web.sessions import Run, RunQueue
from test_live import Client, ServerURL, handshake_url, serve

ATTACKER = "127.0.0.2"  # loopback too: a second address for the attacker, on this machine


@pytest.fixture(scope="module")
def server():
    with serve(timeout=20) as url:
        yield url


@contextlib.contextmanager
def in_process_server(**config):
    """The app with its settings changed, on BoundedServer in a thread of this process."""
    app = create_app({"TOKEN": "t", **config})
    caps = ConnectionCaps(app.config["MAX_CONNECTIONS"], app.config["MAX_CONNECTIONS_PER_ADDRESS"])
    httpd = BoundedServer("127.0.0.1", 0, app, caps)  # port 0: the kernel picks a free one
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = ServerURL(f"http://127.0.0.1:{httpd.server_port}")
    url.token = "t"
    try:
        yield url, app
    finally:
        httpd.shutdown()
        httpd.server_close()
        app.extensions["gradtrace"].close()


def get(url: str, **headers) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/examples",
                                  "/socket.io/?EIO=4&transport=polling"])
def test_a_foreign_host_is_refused_everywhere(server, path):
    status, body = get(server + path, Host="attacker.example:5601")
    assert status == 403 and "DNS rebinding" in body
    # (by its own name, the socket answers too: that polling is not served, WebSocket only)
    assert get(server + path, Host="localhost")[0] == (400 if "socket.io" in path else 200)


def headers_of(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return dict(r.headers)


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/examples", "/static/js/main.js"])
def test_the_page_may_run_only_its_own_scripts_and_never_in_a_frame(server, path):
    headers = headers_of(server + path)
    policy = dict(part.strip().split(" ", 1) for part in
                  headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == policy["script-src"] == policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_standalone_template_keeps_its_inline_scripts():
    # the export fetches it and fills it with a run; it opens as a file, inline scripts and all
    with in_process_server() as (url, _):
        headers = headers_of(url + "/standalone")
    assert "Content-Security-Policy" not in headers and "X-Frame-Options" not in headers


def test_a_foreign_origin_is_refused(server):
    status, body = get(server + "/", Origin="http://attacker.example")
    assert status == 403 and "attacker.example" in body
    with pytest.raises(socketio.exceptions.ConnectionError):
        auth = {"token": server.token}
        socketio.Client().connect(handshake_url(server, auth), transports=["websocket"],
                                  auth=auth, headers={"Origin": "http://attacker.example"})


def test_loopback_needs_the_token_and_a_refused_client_holds_no_connection():
    with in_process_server() as (url, app):
        for auth in (None, {"token": "wrong"}, {"token": ["t"]}):
            with pytest.raises(socketio.exceptions.ConnectionError):
                socketio.Client().connect(handshake_url(url, auth), transports=["websocket"],
                                          auth=auth)
        eio = app.extensions["socketio"].server.eio
        deadline = time.monotonic() + 5
        while eio.sockets:
            assert time.monotonic() < deadline, "refused clients still hold connections"
            time.sleep(0.05)
        client = Client(url)
        assert client.run("print(1)\n")[-1]["status"] == "ok"
        client.close()


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def test_handshakes_without_the_token_make_no_session_and_no_thread():
    # each polling handshake used to leave an Engine.IO session and a thread asleep for 25 s:
    # 106 a second made 2,682 threads, and at the process limit every new client failed
    with in_process_server() as (url, app):
        eio = app.extensions["socketio"].server.eio
        before = threads_of(os.getpid())
        codes = []
        for k in range(300):
            transport = "polling" if k % 2 else "websocket"
            codes.append(get(f"{url}/socket.io/?EIO=4&transport={transport}")[0])
        assert set(codes) <= {400, 401}, set(codes)
        assert not eio.sockets and threads_of(os.getpid()) <= before + 4
        status, body = get(f"{url}/socket.io/?EIO=4&transport=polling&token=t")
        assert status == 400 and "WebSocket only" in body  # the token is not enough for polling
        client = Client(url)  # the page's way: WebSocket, the token in the handshake
        assert client.run("print(1)\n")[-1]["status"] == "ok"
        client.close()


def test_half_sent_requests_from_many_addresses_do_not_lock_others_out(server):
    # slowloris: 16 loopback addresses, each holding 32 requests whose headers never end, used
    # to fill the 512-connection cap; everyone else got 503 for as long as they were held
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 4096), hard), hard))
    port = int(server.rsplit(":", 1)[1])
    held = []
    try:
        for k in range(16):
            for _ in range(32):
                s = socket.socket()
                s.bind((f"127.0.0.{10 + k}", 0))
                s.settimeout(5)
                s.connect(("127.0.0.1", port))
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never ended
                held.append(s)
        for s in held[::64]:  # and they trickle a byte now and then
            s.sendall(b"a")
        latencies = []
        for _ in range(5):
            started = time.monotonic()
            assert get(server + "/healthz")[0] == 200
            latencies.append(time.monotonic() - started)
        assert max(latencies) < 1.0, latencies
        client = Client(server)
        assert client.run("print('served')\n", timeout=30)[-1]["status"] == "ok"
        client.close()
    finally:
        for s in held:
            s.close()


def test_a_request_whose_headers_never_end_is_closed():
    with in_process_server() as (url, _):
        port = int(url.rsplit(":", 1)[1])
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        started = time.monotonic()
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        try:
            while time.monotonic() - started < 25:
                s.sendall(b"X-Trickle: 1\r\n")  # a header line a second, forever
                time.sleep(1)
            closed = False
        except OSError:
            closed = True
        s.close()
        assert closed and time.monotonic() - started < 20  # HEADERS_WITHIN is 10 s


def test_a_thousand_idle_connections_leave_the_server_responsive(server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 4096), hard), hard))
    port = int(server.rsplit(":", 1)[1])
    idle = []
    try:
        for _ in range(1000):
            s = socket.socket()
            s.bind((ATTACKER, 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            idle.append(s)
        latencies = []
        for _ in range(5):
            started = time.monotonic()
            assert get(server + "/healthz")[0] == 200
            latencies.append(time.monotonic() - started)
        assert statistics.median(latencies) < 1.0, latencies
        client = Client(server)
        assert client.run("print('still served')\n", timeout=30)[-1]["status"] == "ok"
        client.close()
        refused = 0
        for s in idle[-100:]:  # the last ones came after the cap: told why, and closed
            with contextlib.suppress(OSError):
                refused += b"503" in s.recv(200)
        assert refused == 100
    finally:
        for s in idle:
            s.close()


def _frame(text: str) -> bytes:
    """One masked WebSocket text frame, as a client must send it."""
    data, mask = text.encode(), os.urandom(4)
    head = bytes([0x81]) + (bytes([0x80 | len(data)]) if len(data) < 126
                            else bytes([0x80 | 126]) + len(data).to_bytes(2, "big"))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def never_reading_client(port: int, auth: dict, *events: list) -> socket.socket:
    """A raw Socket.IO client on 127.0.0.1 that connects with ``auth``, sends ``events`` (each
    [name, payload...]) and then reads nothing more."""
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    query = urllib.parse.urlsplit(handshake_url("", auth)).query
    slow.sendall((f"GET /socket.io/?EIO=4&transport=websocket&{query} HTTP/1.1\r\n"
                  f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    assert b" 101 " in slow.recv(100)
    slow.sendall(_frame("40" + json.dumps(auth)))
    time.sleep(0.3)
    for event in events:
        slow.sendall(_frame("42" + json.dumps(event)))
    return slow


ENDLESS = ("import torch\nx = torch.ones(4, requires_grad=True)\n"
           "while True:\n    y = x * 1.0001\n")  # events without end, until someone stops it


def test_a_client_that_never_reads_loses_its_run_not_the_servers_memory():
    with in_process_server(MAX_PENDING_BYTES=1 << 20, TIMEOUT=60) as (url, app):
        slow = never_reading_client(int(url.rsplit(":", 1)[1]), {"token": url.token},
                                    ["run", {"code": ENDLESS}])
        sessions = app.extensions["gradtrace"]
        deadline = time.monotonic() + 30  # the run's own timeout is 60 s: only the cap ends it
        while not sessions.running():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        while sessions.running():  # the run ends because its client stopped reading
            assert time.monotonic() < deadline, "the run of a client that never reads went on"
            time.sleep(0.1)
        slow.settimeout(10)
        received = 0
        with contextlib.suppress(OSError):
            while chunk := slow.recv(1 << 16):
                received += len(chunk)
        slow.close()
        assert received < 8 << 20  # it got a bounded part, then the server hung up
        other = Client(url)
        assert other.run("print('fine')\n")[-1]["status"] == "ok"
        other.close()


def test_the_queue_serves_addresses_in_turn():
    sent = []
    queue = RunQueue(1, lambda client, batch: sent.append((client, batch)))
    admitted: list[str] = []
    lock = threading.Lock()

    def take(run):
        assert queue.acquire(run)
        with lock:
            admitted.append(run.client)

    first = Run("greedy-0", "", "cpu", owner=ATTACKER)
    take(first)  # running; everything below waits
    waiting = [Run(f"greedy-{i}", "", "cpu", owner=ATTACKER) for i in range(1, 6)]
    threads = []
    for run in [*waiting[:3], Run("student", "", "cpu", owner="127.0.0.1"), *waiting[3:]]:
        threads.append(threading.Thread(target=take, args=(run,)))
        threads[-1].start()
        time.sleep(0.05)  # they queue in this order
    positions = {c: b[0]["position"] for c, b in sent if b[0]["type"] == "queued"}
    assert positions["student"] == 2  # told it is next but one, though five runs were before it
    for _ in range(6):
        time.sleep(0.15)
        queue.release()
    for t in threads:
        t.join(5)
    assert admitted[:3] == ["greedy-0", "greedy-1", "student"]


# A hostile run's graph: 40,000 nodes nested 500 deep, seconds of layout (test_grouping.py); the
# run then waits, so that its graph stays the one laid out
FORGED_GRAPH = """from gradtrace.trace import jsonio
from gradtrace.trace.protocol import Edge, Node
from gradtrace.trace.wire import graph_wire
nodes = [Node(i, "op", "MulBackward0", "mul", 1, "", ".".join(["m"] * (i % 500 + 1)))
         for i in range(40_000)]
graph = graph_wire(nodes, [Edge(i + 1, i, 0, 0) for i in range(39_999)])
forged = jsonio.dumps([{"type": "graph", "graph": graph}]) + b"\\n"
""" + forging("forged") + "import time\ntime.sleep(60)\n"


def test_a_layout_stops_when_its_client_leaves():
    with in_process_server(TIMEOUT=60) as (url, app):
        kept = app.extensions["gradtrace"].kept
        client = Client(url)
        client.sio.emit("run", {"code": FORGED_GRAPH})
        deadline = time.monotonic() + 60
        while not any(e["type"] == "graph" for e in client.events):
            assert time.monotonic() < deadline, client.events[-3:]
            time.sleep(0.05)
        run = kept._run_of(client.sio.get_sid())
        asked = threading.Event()
        client.sio.emit("layout", {"collapsed": []}, callback=lambda reply: asked.set())
        time.sleep(1.0)  # seconds of work under way
        assert not asked.is_set()
        left = time.monotonic()
        client.close()
        assert run._laying_out.acquire(timeout=10), "the layout never ended"
        stopped = time.monotonic() - left
        assert stopped < 2.0, f"the layout went on {stopped:.1f} s after its client left"
        started = time.monotonic()
        assert get(f"{url}/healthz")[0] == 200 and time.monotonic() - started < 1
        other = Client(url)
        assert other.run("print('fine')\n")[-1]["status"] == "ok"
        other.close()
