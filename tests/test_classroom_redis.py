"""One classroom served by two server processes that share it through a real redis-server
(`serve --classroom --redis URL`): a run started through one reaches viewers on the other, a late
joiner on either gets the room as it is, and a viewer on the other can inspect the run."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time

import pytest
import requests

from gradtrace.trace import jsonio
from test_classroom import BIG, CODE, STATE, Member, classroom_server, done, rejected
from test_classroom_load import room_of
from test_live import free_port

if shutil.which("redis-server") is None:
    if os.environ.get("CI"):  # CI installs it: there, a missing server is a failure
        raise RuntimeError("CI must install redis-server (apt-get install redis-server)")
    pytest.skip("redis-server is not installed (Debian: apt-get install redis-server); "
                "the classroom's scale-out on Redis is not tested here", allow_module_level=True)
pytest.importorskip("redis", reason="the redis package is not installed: pip install redis")


@contextlib.contextmanager
def redis_server():
    """A redis-server of our own on a free loopback port, keeping nothing on disk."""
    import redis

    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def two_servers():
    with redis_server() as url, classroom_server("--redis", url) as (base_a, lines_a), \
            classroom_server("--redis", url) as (base_b, lines_b):
        yield ({**room_of(lines_a, base_a), "redis": url},
               {**room_of(lines_b, base_b), "redis": url}, (lines_a, lines_b))


def test_both_processes_serve_one_room_with_one_token(two_servers):
    a, b, (lines_a, lines_b) = two_servers
    assert (a["room"], a["token"]) == (b["room"], b["token"])
    assert lines_a[1].endswith(f"?room={a['room']}") and lines_b[1].endswith(f"?room={b['room']}")


def test_a_run_through_one_process_reaches_viewers_on_the_other(two_servers):
    a, b, _ = two_servers
    presenter = Member(a, presenter=True)
    here, there = Member(a), Member(b)
    try:
        for m in (presenter, here, there):  # the count is the room's, over both processes
            m.wait(lambda m: any(r["watching"] == 2 for r in m.of("room")))
        presenter.run(CODE)
        presenter.wait(done)
        for viewer in (here, there):
            viewer.wait(done)
            assert viewer.events() == presenter.events()
        presenter.sio.emit("sync", STATE)
        there.wait(lambda m: STATE in m.of("sync"))
        there.sio.emit("run", {"code": CODE})  # watch-only on the other process too
        there.wait(lambda m: rejected(m))
        assert "watching" in rejected(there)[0]
    finally:
        for m in (presenter, here, there):
            m.close()


def test_a_late_joiner_on_the_other_process_gets_the_run_and_state_and_can_inspect_it(
        two_servers):
    a, b, _ = two_servers
    presenter = Member(a, presenter=True)
    try:
        presenter.run(BIG)
        presenter.wait(done)
        presenter.sio.emit("sync", {**STATE, "code": BIG, "step": 5})
        time.sleep(0.3)
        late = Member(b)  # joins on the other process, after it all
        try:
            assert late.events() == presenter.events()
            assert late.of("sync")[-1]["step"] == 5
            answer = late.sio.call("inspect", {"variable": "x"}, timeout=10)
            assert answer["value"]["values"] == [float(i) for i in range(100)], answer
            assert answer["grad"]["values"] == [2.0 * i for i in range(100)]
            view = late.sio.call("layout", {"collapsed": []}, timeout=10)
            assert "error" not in view and view["nodes"], view
        finally:
            late.close()
    finally:
        presenter.close()


def test_a_presenter_who_reconnects_through_the_other_process_keeps_the_room(two_servers):
    a, b, _ = two_servers
    presenter = Member(a, presenter=True)
    presenter.run(CODE)
    presenter.wait(done)
    presenter.sio.emit("sync", {**STATE, "step": 7})
    time.sleep(0.3)
    presenter.close()
    back = Member(b, presenter=True)
    try:
        assert back.of("room")[0]["role"] == "presenter"
        assert back.of("sync")[-1]["step"] == 7
        assert back.events()[-1]["type"] == "done"
    finally:
        back.close()


def test_what_a_redis_writer_forges_is_refused_and_the_room_goes_on(two_servers):
    """Attack 11: whoever can write to the room's Redis forges data in each place the room
    reads: the run's batches, its scalars, the message queue and the questions between the
    processes. Each is refused and logged; no forged event reaches a member; a `welcome` still
    works on both processes; /healthz answers within 1 s and a benign run completes meanwhile."""
    import redis

    a, b, (lines_a, lines_b) = two_servers
    store = redis.Redis.from_url(a["redis"])
    prefix = f"gradtrace:room:{a['room']}:"
    presenter, watching = Member(a, presenter=True), Member(b)
    try:
        presenter.run(BIG)
        presenter.wait(done)
        watching.wait(done)
        honest = presenter.events()
        process = store.hget(prefix + "scalars", "runner").decode().split()[0]
        # The run's batches: not JSON, not a list, malformed events, events no room sends
        for forged in (b"{", b"NaN", b'{"type": "done"}', b'[{"type": "welcome"}]',
                       b'[{"type": "done", "status": "ok", "duration_ms": "soon"}]',
                       b'[{"type": "stdout", "text": "x", "step": -1}]'):
            store.rpush(prefix + "batches", forged)
        # The message queue: malformed events to the room, and what only a process may do
        channel = f"room:{a['room']}"
        for message in (
                {"method": "emit", "event": "trace", "room": channel, "namespace": "/",
                 "data": [[{"type": "done", "status": "ok", "duration_ms": -1}]]},
                {"method": "emit", "event": "trace", "room": None, "namespace": "/",
                 "data": [[{"type": "stdout", "text": "to everyone"}]]},
                {"method": "emit", "event": "capabilities", "room": channel, "namespace": "/",
                 "data": [{"cuda": True}]},
                {"method": "emit", "event": "sync", "room": channel, "namespace": "/",
                 "data": [{**STATE, "step": -5}]},
                {"method": "close_room", "room": channel, "namespace": "/"},
                {"method": "disconnect", "sid": "anyone", "namespace": "/"}):
            store.publish("gradtrace", jsonio.dumps({**message, "host_id": "forger"}))
        store.publish("gradtrace", b"not json")
        # The questions one process asks another: not JSON, and one for a reply key of its own
        for question in (b"{", jsonio.dumps({"kind": "layout", "client": "x", "payload": {},
                                             "reply": "gradtrace:claimed"})):
            store.publish(f"{prefix}ask:{process}", question)
        presenter.sio.emit("sync", STATE)  # after all of the above, on the same queue
        watching.wait(lambda m: STATE in m.of("sync"))
        assert watching.events() == honest and all(s["step"] >= 0 for s in watching.of("sync"))
        for base in (a, b):  # a late joiner on either process gets the honest run
            late = Member(base)
            try:
                assert late.events() == honest
                answer = late.sio.call("inspect", {"variable": "x"}, timeout=10)  # asked over
                assert answer["value"]["values"][:3] == [0.0, 1.0, 2.0], answer  # Redis on b
            finally:
                late.close()
        assert store.llen("gradtrace:claimed") == 0
        # The room's scalars: a view state, a runner, counts and a count of viewers, all forged
        store.hset(prefix + "scalars", mapping={"state": b'{"code": 5}', "runner": b"../x",
                                                 "runs": b"many", "kept_bytes": b"lots"})
        store.hset(prefix + "watching", "forger", b"a thousand")
        for base in (a, b):
            late = Member(base)  # welcomed, though it all reads as nothing
            try:
                assert late.of("room")[0]["watching"] >= 1 and not late.of("sync")
            finally:
                late.close()
        started = time.monotonic()
        assert requests.get(a["base"] + "/healthz", timeout=1).ok
        assert time.monotonic() - started < 1
        presenter.run(CODE)  # a benign run: the room numbers its runs afresh
        presenter.wait(done)
        watching.wait(done)
        assert watching.events() == presenter.events()
    finally:
        presenter.close()
        watching.close()
        store.hdel(prefix + "watching", "forger")
    logged = "\n".join(lines_a + lines_b)
    for what in ("a batch of the room's run", "the view state", "the room's runner",
                 "a count of viewers", "a question", "a message from Redis"):
        assert f"refused {what}" in logged, what
