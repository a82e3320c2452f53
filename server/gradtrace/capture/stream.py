"""Events as a run happens: buffered, and written out about every 50 ms.

Recorded calls become steps, and summaries are filled, in bulk (Session.flush), so before a batch
of events is written ``complete_events`` is called: an event always goes out complete. Values in
events that are objects with ``to_json`` (a StepBatch) or callables (a backward result) are
turned into JSON at that moment, not when they are pushed. Consecutive forward events are merged
into one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

INTERVAL = 0.05  # seconds between writes while a run is busy


class EventStream:
    def __init__(self, write: Callable[[list[dict]], None], interval: float = INTERVAL):
        self.write = write  # receives a list of JSON-ready events
        self.interval = interval
        self.complete_events: Callable[[], bool] = lambda: True
        self._pending: list = []
        self._last = time.monotonic()
        self.busy = False  # writing a batch: a signal handler must neither write nor raise now

    def push(self, event: dict, urgent: bool = False) -> None:
        last = self._pending[-1] if self._pending else None
        if last is not None and last["type"] == event["type"] == "stdout":
            last["text"] += event["text"]  # print() writes in pieces: send them as one
        elif last is not None and last["type"] == event["type"] == "forward":
            last["steps"].extend(event["steps"])  # one columnar event for consecutive steps
        elif last is not None and last["type"] == event["type"] == "progress":
            last["losses"].extend(event["losses"])  # a loop's losses, one event per write
        else:
            self._pending.append(event)
        if urgent or time.monotonic() - self._last >= self.interval:
            self.drain()

    def drain(self) -> None:
        if not self._pending or self.busy:
            return
        self.busy = True  # a timer may call drain() again from a signal handler
        try:
            if not self.complete_events():
                return  # interrupted a flush: the events would go out incomplete
            events, self._pending = self._pending, []
            self._last = time.monotonic()
            self.write([_json_ready(e) for e in events])
        finally:
            self.busy = False

    def drain_if_due(self) -> None:
        """For a timer: send what waits when the run has gone quiet (a long loop, a sleep)."""
        if time.monotonic() - self._last >= self.interval:
            self.drain()


def _json_ready(event: dict) -> dict:
    return {k: v.to_json() if hasattr(v, "to_json") else v() if callable(v) else v
            for k, v in event.items()}
