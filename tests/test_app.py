"""Event-level tests of the Socket.IO handlers with Flask-SocketIO's test client (real runs)."""

import time

import pytest

from conftest import EXAMPLES
from gradtrace.trace.protocol import rebuild
from gradtrace.web.app import create_app


@pytest.fixture(scope="module")
def app():
    app = create_app({"TOKEN": "s3cret", "MAX_RUNS": 1, "TIMEOUT": 20})
    yield app
    app.extensions["gradtrace"].close()


def connect(app, token="s3cret"):
    return app.extensions["socketio"].test_client(app, auth={"token": token} if token else None)


def wait_for(client, predicate, timeout=30.0) -> list[dict]:
    """Events received so far, once ``predicate(events)`` holds."""
    events: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in client.get_received():
            if message["name"] == "trace":
                events.extend(message["args"][0])
        if predicate(events):
            return events
        time.sleep(0.02)
    raise AssertionError(f"timed out; last events: {events[-3:]}")


def done(events) -> bool:
    return any(e["type"] == "done" for e in events)


def test_a_token_is_required_when_set(app):
    assert not connect(app, token=None).is_connected()
    assert not connect(app, token="wrong").is_connected()
    assert connect(app).is_connected()


def test_run_over_the_test_client(app):
    client = connect(app)
    client.emit("run", {"code": (EXAMPLES / "basics/square.py").read_text()})
    events = wait_for(client, done)
    assert rebuild(events)["variables"][0]["grad"]["values"] == [4.0]
    assert events[-1]["status"] == "ok" and events[-1]["duration_ms"] >= 0


def test_runs_beyond_the_cap_wait_and_are_told_their_place(app):
    first, second = connect(app), connect(app)
    first.emit("run", {"code": "import time\ntime.sleep(30)\n"})
    wait_for(first, lambda ev: any(e["type"] == "start" for e in ev))
    second.emit("run", {"code": "x = 1\n"})
    queued = wait_for(second, lambda ev: any(e["type"] == "queued" for e in ev))
    assert {"type": "queued", "position": 1} in queued
    first.emit("stop")
    assert wait_for(first, done)[-1]["status"] == "stopped"
    assert wait_for(second, done)[-1]["status"] == "ok"


def test_a_disconnect_kills_the_run(app):
    sessions = app.extensions["gradtrace"]
    client = connect(app)
    client.emit("run", {"code": "import time\ntime.sleep(30)\n"})
    wait_for(client, lambda ev: any(e["type"] == "start" for e in ev))
    assert sessions.running() == 1
    client.disconnect()
    deadline = time.monotonic() + 5
    while sessions.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sessions.running() == 0


def test_a_run_whose_sandbox_dies_says_so_and_the_next_run_works(app):
    import os

    sessions = app.extensions["gradtrace"]
    client = connect(app)
    client.emit("run", {"code": "import time\ntime.sleep(30)\n"})
    wait_for(client, lambda ev: any(e["type"] == "start" for e in ev))
    os.killpg(sessions.zygote._proc.pid, 9)  # the zygote, and with it every run it forked
    events = wait_for(client, done)
    assert events[-2]["error"]["type"] == "SandboxRestarted"
    assert "run it again" in events[-2]["error"]["message"]
    client.emit("run", {"code": "print('again')\n"})
    assert rebuild(wait_for(client, done))["stdout"] == "again\n"
    assert sessions.zygote.restarts == 1


def test_stop_with_nothing_running_is_rejected(app):
    client = connect(app)
    client.emit("stop")
    events = wait_for(client, lambda ev: bool(ev), timeout=5)
    assert events == [{"type": "rejected", "message": "nothing is running"}]


def test_without_bubblewrap_a_root_server_gives_each_run_a_uid_of_its_own():
    import os

    from gradtrace.runner.sandbox import RUN_UID_BASE

    if os.geteuid() != 0:
        pytest.skip("only a root server gives runs uids of their own")
    app = create_app({"USE_BWRAP": False, "TOKEN": "s3cret"})
    try:
        uids = []
        for _ in range(2):
            client = connect(app)
            client.emit("run", {"code": "import os\nprint(os.getuid(), os.getgid())\n"})
            uid, gid = map(int, rebuild(wait_for(client, done))["stdout"].split())
            assert uid == gid and uid >= RUN_UID_BASE
            uids.append(uid)
        assert uids[0] != uids[1]
    finally:
        app.extensions["gradtrace"].close()


CHAIN = ("import torch\nx = torch.ones(1, requires_grad=True)\n"
         "for _ in range(3000):\n    x = x * 1.0001\nx.backward()\n")  # 3,000 nodes kept


def test_what_the_server_keeps_for_other_runs_is_bounded_and_counts_graphs():
    # a run's graph, kept so the page can ask for layouts, was not counted: one tab took the
    # server from 184 MB to 1,049 MB, and 32 would have needed about 20 GB
    app = create_app({"TOKEN": "s3cret", "MAX_RUNS": 2, "TIMEOUT": 20, "KEPT_BUDGET_MB": 8})
    try:
        holder, other = connect(app), connect(app)
        holder.emit("run", {"code": CHAIN})
        wait_for(holder, done)
        kept = app.extensions["gradtrace"].kept
        assert kept.total_bytes() > 8 * 2**20  # its graph: about 4 KB a node, held
        other.emit("run", {"code": "x = 1\n"})
        refused = wait_for(other, lambda ev: any(e["type"] == "rejected" for e in ev))
        message = next(e["message"] for e in refused if e["type"] == "rejected")
        assert "8 MiB" in message and "try again" in message, message
        holder.emit("run", {"code": "x = 2\n"})  # its own last run does not count against it
        assert wait_for(holder, done)[-1]["status"] == "ok"
        other.get_received()
        other.emit("run", {"code": "x = 1\n"})  # the big graph went with the holder's next run
        assert wait_for(other, done)[-1]["status"] == "ok"
    finally:
        app.extensions["gradtrace"].close()
