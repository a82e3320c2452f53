"""The live server, measured from a real client over a real WebSocket on loopback.

    python bench/live.py [--reps N]

Prints medians of:
  cold start     `gradtrace serve` until its first run of an example is done
  first event    `run` emitted -> first `trace` batch received (warm zygote)
  graph          `run` emitted -> the batch holding the first `graph` event (budget 150 ms)
  done           `run` emitted -> `done`
  RNN            a learner's 1,000-step RNN (3,000 nodes): `run` -> `done`, against the snippet
                 run plainly in a warm interpreter (budget: 1.5x plain + 100 ms)
  events/s       events delivered per second to 1 client, and to 30 clients at once, each step
                 of a columnar event counted as one (as the server's event cap counts them)
  /healthz       its latency alone, and under hostile load: 1,000 idle connections from a second
                 loopback address and a client that never reads its run's events
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import socketio

from gradtrace.runner.process import event_weight

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from models import RNN  # noqa: E402  (a learner's 1,000-step RNN)

from test_guard import ENDLESS, never_reading_client  # noqa: E402  (the tests' helpers)
from test_live import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = (ROOT / "examples/basics/wx_plus_b_loss.py").read_text()
CHATTY = """import torch
x = torch.tensor(1.0, requires_grad=True)
y = x
for _ in range(1000):
    y = y * 1.0
y.backward()
"""


PLAIN = """import contextlib, io, statistics, sys, time, torch
torch.set_num_threads(1)
code = compile(sys.stdin.read(), "<snippet>", "exec")
times = []
for _ in range({reps}):
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # as a run's output is kept
        exec(code, {{}})
    times.append(time.perf_counter() - started)
print(statistics.median(times))
"""


def plain_seconds(code: str, reps: int) -> float:
    """The snippet's median time in a warm interpreter (torch imported), one torch thread."""
    out = subprocess.run([sys.executable, "-c", PLAIN.format(reps=reps)], input=code,
                         capture_output=True, text=True, check=True)
    return float(out.stdout)


def start_server() -> tuple[subprocess.Popen, str, str, float]:
    """A server, its token, and the seconds from its start to the end of its first run (the
    zygote is warm by then)."""
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "gradtrace", "serve", "--port", str(port),
                             "--timeout", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    token = proc.stdout.readline().strip().rsplit("=", 1)[1]
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if json.load(urllib.request.urlopen(url + "/healthz", timeout=1))["ok"]:
                break
        except OSError:
            time.sleep(0.02)
    client = Timed(url, token)
    client.run(EXAMPLE)
    cold = time.monotonic() - started  # before the disconnect: its close handshake may wait 3 s
    client.sio.disconnect()
    return proc, url, token, cold


class Timed:
    """One client; times the arrival of each kind of event of one run."""

    def __init__(self, url: str, token: str):
        self.sio = socketio.Client()
        self.sio.on("trace", self._on_trace)
        self.sio.connect(f"{url}?token={token}", transports=["websocket"],  # (SocketGate)
                         auth={"token": token})

    def _on_trace(self, batch):
        now = time.monotonic()
        self.count += sum(map(event_weight, batch))
        self.first = self.first or now
        if self.graph is None and any(e["type"] == "graph" for e in batch):
            self.graph = now
        if any(e["type"] == "done" for e in batch):
            self.done_at = now
            self.finished.set()

    def run(self, code: str) -> dict:
        self.count, self.first, self.graph, self.done_at = 0, None, None, None
        self.finished = threading.Event()
        started = time.monotonic()
        self.sio.emit("run", {"code": code})
        if not self.finished.wait(300):
            raise TimeoutError("no done event within 300 s")
        return {"first": self.first - started, "graph": (self.graph or self.done_at) - started,
                "done": self.done_at - started, "events": self.count,
                "rate": self.count / (self.done_at - started)}


def healthz_ms(url: str, reps: int = 20) -> float:
    times = []
    for _ in range(reps):
        started = time.monotonic()
        urllib.request.urlopen(url + "/healthz", timeout=10).read()
        times.append(time.monotonic() - started)
    return statistics.median(times) * 1e3


def hostile_load(url: str, token: str) -> list[socket.socket]:
    """1,000 idle connections from 127.0.0.2, and a client that runs an endless snippet and
    never reads. Loopback only."""
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1])
    held = []
    for _ in range(1000):
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.connect((host, port))
        held.append(s)
    return [*held, never_reading_client(port, token, ENDLESS)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    colds = []
    for _ in range(3):
        proc, url, token, cold = start_server()
        colds.append(cold)
        proc.terminate()
        proc.wait()
    proc, url, token, _ = start_server()
    try:
        client = Timed(url, token)
        runs = [client.run(EXAMPLE) for _ in range(args.reps)]
        chatty = [client.run(CHATTY) for _ in range(3)]
        rnn = statistics.median(client.run(RNN)["done"] for _ in range(5))
        crowd_rates: list[float] = []

        def crowd_member():
            member = Timed(url, token)
            crowd_rates.append(member.run(CHATTY)["events"])  # events of one run
            member.sio.disconnect()

        started = time.monotonic()
        threads = [threading.Thread(target=crowd_member) for _ in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        crowd_seconds = time.monotonic() - started
        quiet = healthz_ms(url)
        attackers = hostile_load(url, token)
        try:
            loaded = healthz_ms(url)
            under_attack = client.run(EXAMPLE)["done"] * 1e3
        finally:
            for s in attackers:
                s.close()
    finally:
        proc.terminate()
        proc.wait()

    def ms(key):
        return statistics.median(r[key] for r in runs) * 1e3

    print(f"cold start (serve -> its first run done): {statistics.median(colds) * 1e3:.0f} ms")
    print(f"example, warm zygote, median of {args.reps}: first event {ms('first'):.0f} ms, "
          f"graph {ms('graph'):.0f} ms (budget 150), done {ms('done'):.0f} ms")
    rnn_plain = plain_seconds(RNN, 5)
    print(f"1,000-step RNN, median of 5: done {rnn * 1e3:.0f} ms; plain {rnn_plain * 1e3:.0f} ms; "
          f"budget {(1.5 * rnn_plain + 0.1) * 1e3:.0f} ms")
    print(f"events/s to 1 client: {statistics.median(r['rate'] for r in chatty):.0f} "
          f"({chatty[0]['events']} events a run)")
    print(f"events/s to 30 clients at once: {sum(crowd_rates) / crowd_seconds:.0f} "
          f"({len(crowd_rates)} runs in {crowd_seconds:.1f} s)")
    print(f"/healthz, median of 20: {quiet:.1f} ms alone, {loaded:.1f} ms under hostile load "
          f"(1,000 idle connections and a client that never reads); an example run done in "
          f"{under_attack:.0f} ms meanwhile")


if __name__ == "__main__":
    main()
