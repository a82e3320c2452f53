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
        yield room_of(lines_a, base_a), room_of(lines_b, base_b), (lines_a, lines_b)


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
