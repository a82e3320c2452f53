"""Where a classroom keeps what every server process of the room must see alike: the presenter's
last view state, the batches of the room's run, which connection's run it is, whether viewers may
run code, and how many watch on each process.

A batch is kept as the JSON text it is sent as: a late joiner's `welcome` replays that text, and
no welcome encodes the run again.

One process keeps it in memory (LocalRoom). Several processes behind one room (`serve --redis`)
keep it in Redis (RedisRoom), and a viewer's `inspect` or `layout` of the room's run, which only
the process that ran it can answer, is asked of that process over Redis and answered there.
The events themselves travel on Flask-SocketIO's message queue, on the same Redis.

Whoever can write to that Redis could write anything there. So everything read back is checked as
a worker's events are (untrusted.py, roommessages.py): what is malformed is refused and logged,
and reads as if it were not there (a batch of the room's run as an empty one, so the count of
batches still holds). A viewer's `welcome` never breaks on it, and no forged event reaches one.
Each batch read is checked once: the next welcome finds its text unchanged (by its hash), and
sends it on.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
import uuid

from gradtrace.trace import jsonio
from gradtrace.trace.untrusted import check_answer, check_relayed
from gradtrace.web.roommessages import sync_problem

logger = logging.getLogger(__name__)

MAX_KEPT_BYTES = 256 * 1024 * 1024  # the presenter's run kept for late joiners
ROOM_TTL = 3600  # seconds Redis keeps a room after its last process stopped renewing it: a
# server restarted within the hour serves the same room, and the class's links still work
CLAIM = "gradtrace:classroom"  # the room id and presenter token
COUNT_FRESH = 30.0  # seconds a process's count of viewers counts without being renewed
ASK_TIMEOUT = 10.0  # seconds a viewer's process waits for the run's process to answer
ASKED = ("inspect", "layout")  # the questions asked of another process
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a room id, a token, a process, a connection


class LocalRoom:
    """The room's shared state, for a room served by this process alone."""

    def __init__(self):
        self.process = "local"
        self._state: dict | None = None
        self._batches: list[bytes] = []
        self._kept_bytes = 0
        self._runner: tuple[str, str] | None = None
        self._runs = 0  # runs the room has shown: which one its batches are of
        self._allow_runs = False
        self._watching = 0
        self._lock = threading.Lock()

    def state(self) -> dict | None:
        return self._state

    def set_state(self, state: dict) -> None:
        self._state = state

    def start_run(self, client: str) -> None:
        with self._lock:
            self._runner, self._batches, self._kept_bytes = (self.process, client), [], 0
            self._runs += 1

    def runner(self) -> tuple[str, str] | None:
        """(process, connection) of the run the room shows."""
        return self._runner

    def add_batch(self, batch: list[dict]) -> None:
        text = jsonio.dumps(batch)
        with self._lock:
            if self._kept_bytes + len(text) <= MAX_KEPT_BYTES:  # a late joiner gets what fits
                self._batches.append(text)
                self._kept_bytes += len(text)

    def batches_since(self, run: int | None, start: int) -> tuple[int, list[bytes]]:
        """Which run the room shows (0: none yet), and its batches (JSON text; empty where one
        was refused) from ``start`` on while it is still run ``run``, else all of them; read
        together."""
        with self._lock:
            return self._runs, self._batches[start if run == self._runs else 0:]

    def allow_runs(self) -> bool:
        return self._allow_runs

    def set_allow_runs(self, allow: bool) -> None:
        self._allow_runs = allow

    def set_watching(self, count: int) -> None:
        self._watching = count

    def watching(self) -> int:
        return self._watching

    def renew(self) -> None:
        pass

    def serve_asks(self, answer) -> None:
        pass  # the room's run is always this process's

    def ask(self, runner: tuple[str, str], kind: str, payload) -> dict:
        raise AssertionError("a local room's run is this process's")


class RedisRoom:
    """The room's shared state in Redis, for several processes serving one room."""

    def __init__(self, url: str, room: str):
        import redis  # only for `serve --redis`: `pip install redis`

        self.redis = redis.Redis.from_url(url)
        self._not_a_count = redis.ResponseError  # a count in Redis that a writer made text
        self.process = uuid.uuid4().hex[:12]
        self.prefix = f"gradtrace:room:{room}:"
        self._scalars = self.prefix + "scalars"  # state, runner, allow_runs, kept_bytes
        self._batches = self.prefix + "batches"
        self._counts = self.prefix + "watching"  # process -> "count time"
        self._count = 0
        self._checked: tuple[int, dict[int, int]] = (0, {})  # run: {batch index: its text's hash}

    def state(self) -> dict | None:
        state = _read(self.redis.hget(self._scalars, "state"), "the view state")
        problem = state is not None and sync_problem(state)
        return _refused("the view state", problem) if problem else state

    def set_state(self, state: dict) -> None:
        self.redis.hset(self._scalars, "state", jsonio.dumps(state))

    def start_run(self, client: str) -> None:
        with self.redis.pipeline() as pipe:  # MULTI: the new runner and no batches, at once
            pipe.hset(self._scalars, mapping={"runner": f"{self.process} {client}",
                                              "kept_bytes": 0})
            pipe.hincrby(self._scalars, "runs", 1)
            pipe.delete(self._batches)
            try:
                pipe.execute()
            except self._not_a_count:  # the rest was done: number the runs afresh
                self.redis.hset(self._scalars, "runs", 1)

    def runner(self) -> tuple[str, str] | None:
        raw = self.redis.hget(self._scalars, "runner")
        if not raw:
            return None
        named = raw.decode(errors="replace").split(" ")
        if len(named) != 2 or not all(NAME.fullmatch(name) for name in named):
            return _refused("the room's runner", "not a process and a connection")
        return named[0], named[1]

    def add_batch(self, batch: list[dict]) -> None:
        text = jsonio.dumps(batch)
        try:
            kept = self.redis.hincrby(self._scalars, "kept_bytes", len(text))
        except self._not_a_count:
            return _refused("the bytes kept", "not a count: the batch is not kept")
        if kept <= MAX_KEPT_BYTES:
            self.redis.rpush(self._batches, text)

    def batches_since(self, run: int | None, start: int) -> tuple[int, list[bytes]]:
        """As LocalRoom's: the run's number and its batches are read in one MULTI."""
        runs, raw = self._batches_from(start)
        if runs != run and start:  # another run: all of its batches
            start = 0
            runs, raw = self._batches_from(start)
        return runs, [self._checked_batch(runs, start + i, text) for i, text in enumerate(raw)]

    def _checked_batch(self, run: int, index: int, text: bytes) -> bytes:
        """``text``, a batch of the room's run ``run`` read back from Redis, once it is checked
        (a batch seen before with the same hash is not checked again); b"" if it is refused."""
        checked_run, hashes = self._checked
        if checked_run != run:
            hashes = {}
            self._checked = (run, hashes)
        if hashes.get(index) == hash(text):
            return text
        batch = _read(text, "a batch of the room's run")
        problem = batch is not None and check_relayed(batch)
        if batch is None or problem:
            if problem:
                _refused("a batch of the room's run", problem)
            return b""
        hashes[index] = hash(text)
        return text

    def _batches_from(self, start: int) -> tuple[int, list[bytes]]:
        with self.redis.pipeline() as pipe:
            pipe.hget(self._scalars, "runs")
            pipe.lrange(self._batches, start, -1)
            runs, raw = pipe.execute()
        if runs is not None and not runs.isdigit():
            runs = _refused("the room's count of runs", "not a count")
        return int(runs or 0), raw

    def allow_runs(self) -> bool:
        return self.redis.hget(self._scalars, "allow_runs") == b"1"

    def set_allow_runs(self, allow: bool) -> None:
        self.redis.hset(self._scalars, "allow_runs", "1" if allow else "0")

    def set_watching(self, count: int) -> None:
        self._count = count
        self.redis.hset(self._counts, self.process, f"{count} {time.time()}")

    def watching(self) -> int:
        """The viewers of every process that renewed its count lately (one that stopped, or
        died, stops counting after COUNT_FRESH)."""
        now, total = time.time(), 0
        for value in self.redis.hvals(self._counts):
            count, _, at = value.decode(errors="replace").partition(" ")
            try:
                count, at = int(count), float(at)
            except ValueError:
                _refused("a count of viewers", "not a count and a time")
                continue
            if now - at < COUNT_FRESH and 0 <= count <= 2**31:
                total += count
        return total

    def renew(self) -> None:
        """Every few seconds, from each process: its count is fresh and the room is kept."""
        self.set_watching(self._count)
        with self.redis.pipeline(transaction=False) as pipe:
            for key in (self._scalars, self._batches, self._counts, CLAIM):
                pipe.expire(key, ROOM_TTL)
            pipe.execute()

    # -- a viewer's question about the room's run, answered by the process that ran it ----------

    def ask(self, runner: tuple[str, str], kind: str, payload) -> dict:
        process, client = runner
        reply = f"{self.prefix}reply:{uuid.uuid4().hex}"
        question = jsonio.dumps({"kind": kind, "client": client, "payload": payload,
                                 "reply": reply})
        if not self.redis.publish(self.prefix + "ask:" + process, question):
            return {"error": "the server that ran the presenter's code is gone"}
        answered = self.redis.blpop([reply], timeout=ASK_TIMEOUT)
        if answered is None:
            return {"error": "the server that ran the presenter's code did not answer in time"}
        answer = _read(answered[1], f"an answer to {kind}")
        problem = check_answer(kind, answer)
        if problem:
            _refused(f"an answer to {kind}", problem)
            return {"error": "the server that ran the presenter's code answered with something "
                             "malformed"}
        return answer

    def serve_asks(self, answer) -> None:
        """Forever: answer the questions other processes ask about runs of this one, each in a
        thread of its own, with ``answer(kind, client, payload)``."""
        listening = self.redis.pubsub(ignore_subscribe_messages=True)
        listening.subscribe(self.prefix + "ask:" + self.process)
        for message in listening.listen():
            question = _read(message["data"], "a question")
            if self._is_question(question):
                threading.Thread(target=self._answer, args=(answer, question),
                                 daemon=True).start()
            elif question is not None:
                _refused("a question", "not {kind, client, payload, reply} of this room")

    def _is_question(self, question) -> bool:
        """A question as ``ask`` publishes it; its payload the answer checks (live.py)."""
        return (type(question) is dict and set(question) == {"kind", "client", "payload", "reply"}
                and question["kind"] in ASKED and type(question["client"]) is str
                and NAME.fullmatch(question["client"]) is not None
                and type(question["reply"]) is str
                and re.fullmatch(re.escape(self.prefix) + r"reply:[0-9a-f]{32}",
                                 question["reply"]) is not None)

    def _answer(self, answer, question: dict) -> None:
        reply = answer(question["kind"], question["client"], question["payload"])
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.rpush(question["reply"], jsonio.dumps(reply))
            pipe.expire(question["reply"], int(ASK_TIMEOUT) * 3)
            pipe.execute()


def claim_room(url: str) -> tuple[str, str]:
    """The room id and presenter token every process on this Redis serves: the first process
    makes them, the others read them."""
    import redis

    store = redis.Redis.from_url(url)
    made = jsonio.dumps({"room": secrets.token_urlsafe(6), "token": secrets.token_urlsafe(24)})
    store.set(CLAIM, made, nx=True, ex=ROOM_TTL)
    claimed = _read(store.get(CLAIM), "the room's claim")
    if not (type(claimed) is dict and all(type(claimed.get(key)) is str
                                          and NAME.fullmatch(claimed[key])
                                          for key in ("room", "token"))):
        raise ValueError(f"{CLAIM} in Redis is not a room id and token: delete it, and start the "
                         "servers again")
    return claimed["room"], claimed["token"]


def _read(raw: bytes | None, what: str):
    """JSON read back from Redis; None when there is none, or it is not JSON (logged)."""
    if raw is None:
        return None
    try:
        return jsonio.loads(raw)
    except ValueError:
        return _refused(what, "not JSON")


def _refused(what: str, problem: str) -> None:
    logger.warning("refused %s read from Redis: %s", what, problem)
    return None
