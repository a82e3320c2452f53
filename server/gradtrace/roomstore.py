"""Where a classroom keeps what every server process of the room must see alike: the presenter's
last view state, the batches of the room's run, which connection's run it is, whether viewers may
run code, and how many watch on each process.

One process keeps it in memory (LocalRoom). Several processes behind one room (`serve --redis`)
keep it in Redis (RedisRoom), and a viewer's `inspect` or `layout` of the room's run, which only
the process that ran it can answer, is asked of that process over Redis and answered there.
The events themselves travel on Flask-SocketIO's message queue, on the same Redis.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid

from gradtrace import jsonio

MAX_KEPT_BYTES = 256 * 1024 * 1024  # the presenter's run kept for late joiners
ROOM_TTL = 3600  # seconds Redis keeps a room after its last process stopped renewing it: a
# server restarted within the hour serves the same room, and the class's links still work
CLAIM = "gradtrace:classroom"  # the room id and presenter token
COUNT_FRESH = 30.0  # seconds a process's count of viewers counts without being renewed
ASK_TIMEOUT = 10.0  # seconds a viewer's process waits for the run's process to answer


class LocalRoom:
    """The room's shared state, for a room served by this process alone."""

    def __init__(self):
        self.process = "local"
        self._state: dict | None = None
        self._batches: list[list[dict]] = []
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

    def add_batch(self, batch: list[dict], size: int) -> None:
        with self._lock:
            if self._kept_bytes + size <= MAX_KEPT_BYTES:  # a late joiner gets what fits
                self._batches.append(batch)
                self._kept_bytes += size

    def batches_since(self, run: int | None, start: int) -> tuple[int, list[list[dict]]]:
        """Which run the room shows (0: none yet), and its batches from ``start`` on while it is
        still run ``run``, else all of them; read together."""
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
        self.process = uuid.uuid4().hex[:12]
        self.prefix = f"gradtrace:room:{room}:"
        self._scalars = self.prefix + "scalars"  # state, runner, allow_runs, kept_bytes
        self._batches = self.prefix + "batches"
        self._counts = self.prefix + "watching"  # process -> "count time"
        self._count = 0

    def state(self) -> dict | None:
        raw = self.redis.hget(self._scalars, "state")
        return None if raw is None else jsonio.loads(raw)

    def set_state(self, state: dict) -> None:
        self.redis.hset(self._scalars, "state", jsonio.dumps(state))

    def start_run(self, client: str) -> None:
        with self.redis.pipeline() as pipe:  # MULTI: the new runner and no batches, at once
            pipe.hset(self._scalars, mapping={"runner": f"{self.process} {client}",
                                              "kept_bytes": 0})
            pipe.hincrby(self._scalars, "runs", 1)
            pipe.delete(self._batches)
            pipe.execute()

    def runner(self) -> tuple[str, str] | None:
        raw = self.redis.hget(self._scalars, "runner")
        return tuple(raw.decode().split(" ", 1)) if raw else None

    def add_batch(self, batch: list[dict], size: int) -> None:
        if self.redis.hincrby(self._scalars, "kept_bytes", size) <= MAX_KEPT_BYTES:
            self.redis.rpush(self._batches, jsonio.dumps(batch))

    def batches_since(self, run: int | None, start: int) -> tuple[int, list[list[dict]]]:
        """As LocalRoom's: the run's number and its batches are read in one MULTI."""
        runs, raw = self._batches_from(start)
        if runs != run and start:  # another run: all of its batches
            runs, raw = self._batches_from(0)
        return runs, [jsonio.loads(batch) for batch in raw]

    def _batches_from(self, start: int) -> tuple[int, list[bytes]]:
        with self.redis.pipeline() as pipe:
            pipe.hget(self._scalars, "runs")
            pipe.lrange(self._batches, start, -1)
            runs, raw = pipe.execute()
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
            count, at = value.decode().split()
            if now - float(at) < COUNT_FRESH:
                total += int(count)
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
        return jsonio.loads(answered[1])

    def serve_asks(self, answer) -> None:
        """Forever: answer the questions other processes ask about runs of this one, each in a
        thread of its own, with ``answer(kind, client, payload)``."""
        listening = self.redis.pubsub(ignore_subscribe_messages=True)
        listening.subscribe(self.prefix + "ask:" + self.process)
        for message in listening.listen():
            question = jsonio.loads(message["data"])
            threading.Thread(target=self._answer, args=(answer, question), daemon=True).start()

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
    claimed = jsonio.loads(store.get(CLAIM))
    return claimed["room"], claimed["token"]
