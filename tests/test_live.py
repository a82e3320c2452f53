"""The live server for real: `gradtrace serve` as a subprocess, clients over a real WebSocket."""

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import pytest
import socketio
from models import RNN

from conftest import EXAMPLES
from gradtrace.trace.protocol import rebuild

WXB = (EXAMPLES / "basics/wx_plus_b_loss.py").read_text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    with serve(timeout=3) as url:
        yield url


class ServerURL(str):
    """The server's base URL (``server + "/healthz"``), with its token beside it."""

    token: str

    @property
    def page(self) -> str:
        return f"{self}/?token={self.token}"


@contextlib.contextmanager
def serve(timeout: float, *extra: str, env: dict | None = None):
    """A real `gradtrace serve` on a free port, once its zygote is up and has passed its
    self-test."""
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "gradtrace", "serve", "--port", str(port),
                             "--timeout", str(timeout), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    url = ServerURL(f"http://127.0.0.1:{port}")
    drained = None
    try:  # a server that fails to come up is stopped too
        printed = proc.stdout.readline().strip()
        assert printed.startswith(f"gradtrace is running at {url}/?token="), printed
        url.token = printed.rsplit("=", 1)[1]
        drained = drain(proc)
        health = wait_until_up(url, started)
        assert health["ok"], health
        yield url
    finally:
        stop(proc, drained)


def wait_until_up(base: str, started: float) -> dict:
    """/healthz once the server's zygote is up and its self-test has finished."""
    while True:
        try:
            health = json.load(urllib.request.urlopen(base + "/healthz", timeout=1))
            if health["zygote"] and health["self_test"]["status"] != "running":
                return health
        except OSError:
            pass
        assert time.monotonic() - started < 60, "the server did not come up"
        time.sleep(0.05)


def stop(proc: subprocess.Popen, drained: threading.Thread | None) -> None:
    proc.terminate()
    proc.wait(10)
    if drained is not None:
        drained.join(5)
    proc.stdout.close()


def drain(proc: subprocess.Popen) -> threading.Thread:
    """Read the rest of a server's output as it comes: a full pipe would block the server at
    its next log line."""
    reader = threading.Thread(target=proc.stdout.read, daemon=True)
    reader.start()
    return reader


def handshake_url(url: str, auth: dict | None) -> str:
    """``url`` with the token or room id of ``auth`` in its query, as the page sends them: the
    server checks them in the handshake, before any session is made (guard.SocketGate)."""
    given = {k: v for k, v in (auth or {}).items() if k in ("token", "room") and type(v) is str}
    return f"{url}?{urllib.parse.urlencode(given)}" if given else url


def page_like_client() -> socketio.Client:
    """A python-socketio client that reads as a browser does.

    Engine.IO's Python client hands each message to a thread of its own, so a big batch can be
    handled after the small ones behind it; the page handles them in order, and so does this.
    And websocket-client checks each text frame's UTF-8 in pure Python, a byte at a time: a
    browser does it in C. With a hundred clients in one test process, that check alone fell
    half a minute behind the server, and the clients missed the server's pings."""
    sio = socketio.Client(websocket_extra_options={"skip_utf8_validation": True})
    trigger = sio.eio._trigger_event
    sio.eio._trigger_event = lambda event, *args, **kwargs: trigger(
        event, *args, **{**kwargs, "run_async": False})
    return sio


class Client:
    """A python-socketio client that collects each run's events."""

    def __init__(self, url: str, **kwargs):
        self.sio = page_like_client()
        self.events: list[dict] = []
        self.done = threading.Event()
        self.sio.on("trace", self._on_trace)
        kwargs.setdefault("auth", {"token": getattr(url, "token", None)})
        self.sio.connect(handshake_url(url, kwargs["auth"]), transports=["websocket"], **kwargs)

    def _on_trace(self, batch):
        self.events.extend(batch)
        if any(e["type"] == "done" for e in batch):
            self.done.set()

    def run(self, code: str, timeout: float = 30, **extra) -> list[dict]:
        self.events, self.done = [], threading.Event()
        self.sio.emit("run", {"code": code, **extra})
        assert self.done.wait(timeout), f"no done event; got {self.events[-3:]}"
        return self.events

    def inspect(self, request) -> dict:
        return self.sio.call("inspect", request, timeout=10)

    def filled_in(self, events: list[dict]) -> dict:
        """The document the events rebuild, with every value the server kept asked for and put
        back: what the page sees once it has inspected everything."""
        doc = rebuild(events)

        def whole(summary):
            if isinstance(summary, dict) and "kept" in summary:
                reply = self.inspect({"summary": summary["kept"]})
                assert "error" not in reply, reply
                return reply["value"]
            return summary

        for step in doc["steps"]:
            step["values"] = [whole(s) for s in step["values"]]
        for node in doc["graph"]["nodes"]:
            node["values"] = [whole(s) for s in node["values"]]
            if any(entry.get("kept") for entry in node.get("saved") or ()):
                node["saved"] = self.inspect({"node": node["id"]})["saved"]
        for pass_ in doc["passes"]:
            for step in pass_["steps"]:
                step["grad_in"] = [whole(s) for s in step["grad_in"]]
                step["grad_out"] = [whole(s) for s in step["grad_out"]]
                for key in ("grad_before", "grad_after"):
                    if key in step:
                        step[key] = whole(step[key])
        for v in doc["variables"]:
            v["value"], v["grad"] = whole(v["value"]), whole(v["grad"])
        return doc

    def close(self):
        self.sio.disconnect()


@pytest.fixture
def client(server):
    c = Client(server)
    yield c
    c.close()


def test_server_never_imports_torch(server):
    health = json.load(urllib.request.urlopen(server + "/healthz"))
    assert health["ok"] and health["torch_imported"] is False


def test_examples_route(server):
    examples = json.load(urllib.request.urlopen(server + "/api/examples"))
    names = {e["name"] for e in examples}
    assert "basics/wx_plus_b_loss" in names
    square = next(e for e in examples if e["name"] == "basics/square")
    assert square["group"] == "basics" and "x ** 2" in square["code"] and square["title"]


def test_run_streams_events_that_rebuild_what_the_cli_prints(client):
    started = time.monotonic()
    events = client.run(WXB)
    elapsed = time.monotonic() - started
    types = [e["type"] for e in events]
    assert types[0] == "start" and types[-1] == "done"
    assert types.index("graph") < types.index("pass") < types.index("backward")
    assert events[-1]["status"] == "ok"
    cli = subprocess.run([sys.executable, "-m", "gradtrace", "trace", "-", "--json",
                          "--cpus", "1"], input=WXB,  # the server's runs have one core
                         capture_output=True, text=True, check=True)
    assert client.filled_in(events) == json.loads(cli.stdout)
    assert elapsed < 2.0  # warm zygote: tens of milliseconds; generous for a shared machine


BIG_VALUES = """import torch
net = torch.nn.Linear(32, 32)
big = torch.randn(100, 100, requires_grad=True)
loss = net(torch.ones(4, 32)).sum() + (big * big).sum()
loss.backward()
"""


def kept_runs(server) -> int:
    return json.load(urllib.request.urlopen(server + "/healthz"))["kept_runs"]


def test_large_values_wait_on_the_server_until_the_page_inspects_them(server, client):
    events = client.run(BIG_VALUES)
    sent = rebuild(events)
    weight = next(v for v in sent["variables"] if v["name"] == "net.weight")
    assert weight["value"]["kept"] and "values" not in weight["value"]  # 1,024 numbers stay
    assert weight["value"]["norm"] > 0 and weight["value"]["shape"] == [32, 32]  # stats travel
    assert "preview" not in weight["value"]  # too many values for a glyph
    big = next(v for v in sent["variables"] if v["name"] == "big")
    assert big["grad"]["kept"] and "hist" not in big["grad"]
    bias = next(v for v in sent["variables"] if v["name"] == "net.bias")  # 32 values: a preview
    assert "values" not in bias["value"] and len(bias["value"]["preview"]) == 32
    listed = [s for step in sent["steps"] for s in step["values"] if s and "values" in s]
    assert listed and all(len(s["values"]) <= 4 for s in listed)
    saved = [entry for node in sent["graph"]["nodes"] for entry in node.get("saved") or ()]
    assert saved and all(set(entry) == {"name", "kept"} or type(entry["value"]) in (int, float)
                         for entry in saved)  # a saved number (alpha) travels whole
    cli = subprocess.run([sys.executable, "-m", "gradtrace", "trace", "-", "--json",
                          "--cpus", "1"],  # the server's runs have one core
                         input=BIG_VALUES, capture_output=True, text=True, check=True)
    full = json.loads(cli.stdout)
    weight_full = next(v for v in full["variables"] if v["name"] == "net.weight")
    reply = client.inspect({"variable": "net.weight"})
    assert reply["value"] == weight_full["value"] and len(reply["value"]["values"]) == 1024
    assert client.filled_in(events) == full


@pytest.mark.parametrize("request_", [None, "net.weight", [], {}, {"variable": 3},
                                      {"variable": "nope"}, {"node": "1"}, {"node": 10**9},
                                      {"node": True}, {"variable": "x" * 100_000},
                                      {"summary": "1"}, {"summary": 0}, {"summary": 10**9},
                                      {"summary": True}])
def test_inspect_answers_bad_requests_with_a_reason(client, request_):
    client.run(BIG_VALUES)
    reply = client.inspect(request_)
    assert set(reply) == {"error"} and reply["error"], reply


def test_layout_lays_the_runs_graph_out_with_the_groups_asked_collapsed(server, client):
    events = client.run(BIG_VALUES)
    graph = rebuild(events)["graph"]
    opening = client.sio.call("layout", {"collapsed": None}, timeout=10)
    assert opening["nodes"] == len(graph["nodes"]) == len(opening["layer"])
    assert opening["ids"] == [n["id"] for n in graph["nodes"]]
    paths = [g[0] for g in opening["groups"]]
    assert "net" in paths and graph["modules"]["net"] == "Linear"
    shut = client.sio.call("layout", {"collapsed": ["net"]}, timeout=10)
    net = paths.index("net")
    assert shut["groups"][net][4] and not opening["groups"][net][4]
    hidden = [k for k, g in enumerate(shut["group"]) if g == net]
    assert len({(shut["layer"][k], shut["row"][k]) for k in hidden}) == 1  # one box
    some = client.sio.call("layout", {"collapsed": [], "nodes": opening["ids"][:2]}, timeout=10)
    assert some["ids"] == opening["ids"][:2] and len(some["layer"]) == 2
    other = Client(server)
    try:
        assert "no run" in other.sio.call("layout", {"collapsed": None}, timeout=10)["error"]
    finally:
        other.close()


@pytest.mark.parametrize("request_", [None, [], {}, {"collapsed": "net"}, {"collapsed": [1]},
                                      {"collapsed": ["x" * 5000]}, {"collapsed": None, "nodes": 3},
                                      {"collapsed": None, "nodes": ["1"]},
                                      {"collapsed": None, "opened": 7},
                                      {"collapsed": None, "layers": 0},
                                      {"collapsed": None, "layers": "9"},
                                      {"collapsed": list(map(str, range(200_000)))}])
def test_layout_answers_bad_requests_with_a_reason(client, request_):
    client.run(BIG_VALUES)
    reply = client.sio.call("layout", request_, timeout=10)
    assert set(reply) == {"error"} and reply["error"], reply


def test_a_client_asking_for_layouts_faster_than_they_are_made_is_told_it_is_busy(client):
    """A classroom's clients cannot queue up layout work on the server: each client's layouts
    are made one at a time, and one asked for meanwhile is refused, not queued."""
    client.run(RNN)  # 3,000 nodes: each layout takes a while
    replies, lock = [], threading.Lock()

    def ask(k):
        reply = client.sio.call("layout", {"collapsed": [f"not.a.group.{k}"]}, timeout=30)
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=ask, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(replies) == 8
    busy = [r for r in replies if "error" in r]
    assert all(r["error"].startswith("busy") for r in busy), busy
    assert len(busy) < 8 and all("layer" in r for r in replies if "error" not in r)


def test_a_client_sees_only_its_own_runs_values_and_they_go_when_it_leaves(server, client):
    before = kept_runs(server)
    client.run(BIG_VALUES)
    other = Client(server)
    try:
        assert "nothing to inspect" in other.inspect({"variable": "net.weight"})["error"]
    finally:
        other.close()
    assert kept_runs(server) == before + 1
    client.close()
    deadline = time.monotonic() + 5
    while kept_runs(server) != before:
        assert time.monotonic() < deadline, "the server kept a run after its client left"
        time.sleep(0.05)


def test_error_run_sends_error_before_done(client):
    events = client.run((EXAMPLES / "pitfalls/inplace_add_on_leaf.py").read_text())
    assert [e["type"] for e in events][-3:] == ["error", "end", "done"]
    assert events[-3]["error"]["code"] == "inplace_leaf" and events[-3]["error"]["line"] == 6
    assert events[-1]["status"] == "error"


@pytest.mark.parametrize("payload, reason", [
    ("not an object", "run expects an object"),
    ({"device": "cpu"}, "run needs `code`"),
    ({"code": 42}, "run needs `code`"),
    ({"code": "x = 1\n" * 20000}, "over 64 KiB"),
    ({"code": "#" * (10 << 20)}, "over 64 KiB"),  # 10 MB: answered, not a dropped connection
    ({"code": "x = 1", "device": "tpu"}, "unknown device 'tpu'"),
    ({"code": "x = 1", "device": ["cuda"]}, "device must be a string"),
    ({"code": "x = 1", "passes": "first10,<b>"}, "cannot read '<b>' in --passes"),
    ({"code": "x = 1", "passes": ["last5"]}, "--passes must be a string"),
    ({"code": "x = 1", "seeded": "no"}, "seeded must be true or false"),
])
def test_bad_input_is_rejected_with_a_reason(client, payload, reason):
    client.events = []
    client.sio.emit("run", payload)
    deadline = time.monotonic() + 5
    while not client.events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.events[0]["type"] == "rejected" and reason in client.events[0]["message"]
    assert client.run("x = 1\n")[-1]["status"] == "ok"  # and the server carries on


def test_a_run_is_seeded_unless_the_page_asks_for_none(client):
    """Issue 29: a page's runs are seeded with 0 and say so; `seeded: false` leaves each run
    to chance, though every worker is forked from the same zygote."""
    probe = "import random\nimport torch\nprint(torch.rand(1).item(), random.random())\n"
    seeded = [rebuild(client.run(probe)) for _ in range(2)]
    assert seeded[0]["stdout"] == seeded[1]["stdout"]
    assert (seeded[0]["seed"], seeded[0]["threads"]) == (0, 1)  # one core a run, by default
    free = [rebuild(client.run(probe, seeded=False)) for _ in range(2)]
    assert free[0]["seed"] is None and free[0]["stdout"] != free[1]["stdout"]
    assert seeded[0]["stdout"] not in (free[0]["stdout"], free[1]["stdout"])


def test_one_run_at_a_time_and_stop(client):
    client.events, client.done = [], threading.Event()
    client.sio.emit("run", {"code": "import time\ntime.sleep(60)\n"})
    time.sleep(0.3)
    client.sio.emit("run", {"code": "x = 1"})
    time.sleep(0.3)
    assert any(e["type"] == "rejected" and "already going" in e["message"]
               for e in client.events)
    stopped_at = time.monotonic()
    client.sio.emit("stop")
    assert client.done.wait(5)
    assert client.events[-1]["status"] == "stopped" and time.monotonic() - stopped_at < 2


def test_a_timed_out_run_ends_within_a_second_of_its_limit_with_its_graph(client):
    """The server's limit is 3 s: the run ends within 1 s of it, with everything it recorded.
    (A graph that grows until the limit sends more than this Python client reads in time: the
    CLI test covers that case.)"""
    arrived: list[tuple[float, list]] = []
    client.sio.on("trace", lambda batch: (arrived.append((time.monotonic(), batch)),
                                          client._on_trace(batch)))
    try:
        events = client.run("import torch, time\nx = torch.tensor(1.0, requires_grad=True)\n"
                            "for _ in range(3000):\n    x = x * 1.0\ntime.sleep(100)\n",
                            timeout=20)
    finally:
        client.sio.on("trace", client._on_trace)
    started = next(t for t, batch in arrived if any(e["type"] == "start" for e in batch))
    assert arrived[-1][0] - started < 4.0
    assert [e["type"] for e in events[-2:]] == ["end", "done"]
    doc = rebuild(events)
    assert doc["error"]["code"] == "timeout" and doc["error"]["line"] == 5
    assert len(doc["graph"]["nodes"]) == 3001
    assert events[-1]["status"] == "error"


@pytest.mark.parametrize("code, expected", [
    ("while True:\n    pass\n", "timeout"),
    ("import time\ntime.sleep(1000)\n", "timeout"),
    ("import torch\nx = torch.empty(50 * 1024**3, dtype=torch.uint8)\n", "memory_limit"),
    ("print('x' * 100_000_000)\n", "output_limit"),
    ("import sys\nsys.exit(3)\n", "user_exception"),
    ("import os\nwhile True:\n    os.fork()\n", None),
])
def test_hostile_snippets_are_contained(server, client, code, expected):
    watcher = Client(server)
    try:
        hostile = threading.Thread(target=client.run, args=(code,), kwargs={"timeout": 30})
        hostile.start()
        time.sleep(0.2)
        started = time.monotonic()
        assert watcher.run("x = 1\n")[-1]["status"] == "ok"
        assert time.monotonic() - started < 3, "a second client waited on the hostile run"
        hostile.join(30)
        errors = [e["error"] for e in client.events if e["type"] == "error"]
        if expected:
            assert errors and errors[-1]["code"] == expected, errors
        assert client.events[-1]["type"] == "done"
    finally:
        watcher.close()
    health = json.load(urllib.request.urlopen(server + "/healthz"))
    assert health["ok"]


def test_each_client_is_told_the_devices_and_cuda_runs_only_where_it_is(server):
    """The devices come from the workers' side (the web process never imports torch): every
    client hears them as it connects, and a CUDA run where there is none is refused, saying
    why."""
    health = json.load(urllib.request.urlopen(server + "/healthz"))
    heard, refused = [], []
    sio = page_like_client()
    sio.on("capabilities", heard.append)
    sio.on("trace", lambda batch: refused.extend(e for e in batch if e["type"] == "rejected"))
    auth = {"token": server.token}
    sio.connect(handshake_url(server, auth), auth=auth, transports=["websocket"])
    try:
        deadline = time.monotonic() + 5
        while not heard and time.monotonic() < deadline:
            time.sleep(0.01)
        assert heard == [health["capabilities"]] and health["torch_imported"] is False
        cpu, cuda = heard[0]["devices"]
        assert cpu == {"id": "cpu", "available": True, "label": "cpu"}
        assert health["self_tests"]["cpu"]["status"] == "ok"
        if cuda["available"]:
            pytest.skip("this host has CUDA: tests/test_gpu.py runs it")
        assert health["devices"] == ["cpu"] and cuda["reason"]
        assert health["device_isolation"]["cuda"] == f"unavailable: {cuda['reason']}"
        sio.emit("run", {"code": "x = 1\n", "device": "cuda"})
        while not refused and time.monotonic() < deadline + 5:
            time.sleep(0.01)
        assert refused[0]["message"] == f"this server cannot run on cuda: {cuda['reason']}"
    finally:
        sio.disconnect()


def test_sandboxed_snippet_cannot_reach_the_server_over_the_network(server, client):
    health = json.load(urllib.request.urlopen(server + "/healthz"))
    if not health["isolation"].startswith("bubblewrap"):
        pytest.skip("no bubblewrap here: runs share the network")
    port = int(server.rsplit(":", 1)[1])
    events = client.run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), "
                        "timeout=2)\n")
    error = next(e["error"] for e in events if e["type"] == "error")
    assert error["type"] in ("ConnectionRefusedError", "OSError", "TimeoutError")
    assert error["line"] == 2


def test_snippet_killing_its_parent_cannot_touch_the_server(server, client):
    client.run("import os\nos.kill(os.getppid(), 9)\n")
    assert client.events[-1]["type"] == "done"
    assert client.run(WXB)[-1]["status"] == "ok"  # a new zygote serves the next run
    assert json.load(urllib.request.urlopen(server + "/healthz"))["ok"]


def test_load_thirty_clients_two_runs_each_lose_nothing(server):
    reference = rebuild(Client(server).run(WXB))
    results, failures = [], []

    def one_client():
        try:
            c = Client(server)
            for _ in range(2):
                events = c.run(WXB, timeout=120)
                results.append(rebuild(events))
                if results[-1] != reference:
                    failures.append([e for e in events if e["type"] == "error"])
            c.close()
        except Exception as exc:  # collected and reported below
            failures.append(repr(exc))

    threads = [threading.Thread(target=one_client) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not failures
    assert len(results) == 60


def test_cross_origin_sockets_are_refused(server):
    sio = socketio.Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(handshake_url(server, {"token": server.token}), transports=["websocket"],
                    auth={"token": server.token}, headers={"Origin": "http://evil.example"})


def test_non_loopback_host_prints_a_token_and_requires_it():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gradtrace", "serve", "--host", "0.0.0.0",
                             "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith(f"gradtrace is running at http://0.0.0.0:{port}/?token=")
        token = line.rsplit("=", 1)[1]
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        with pytest.raises(socketio.exceptions.ConnectionError):
            socketio.Client().connect(url, transports=["websocket"])
        c = Client(url, auth={"token": token})
        assert c.run("x = 1\n")[-1]["status"] == "ok"
        c.close()
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
