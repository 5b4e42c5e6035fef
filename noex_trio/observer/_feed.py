"""The live feed behind ``GET /events``: lifecycle events at once, figures every interval.

One `Feed` per endpoint, shared by every client:

- a lifecycle handler turns each event into its JSON form (see `_events`) and queues it for
  every connected client; crashes and restarts are also kept (the last `BACKLOG`) so that a
  page opened later shows the recent ones on its timeline;
- while at least one client is connected, a *ticker* task builds a snapshot every
  `interval` seconds (and at once when a client connects), applies the alert rules and
  encodes the result once for all clients. Nobody connected: no snapshot is built.

Each client has a bounded queue of events (the oldest are dropped past `QUEUE`, and the
client is told how many) and only the latest tick: a slow client never makes the runtime
hold more than that for it.

SSE frames: ``event: hello`` (runtime name, interval, alert rules), ``event: lifecycle`` with
``id: <seq>`` (so that a reconnecting ``EventSource`` gets only what it missed, through its
``Last-Event-ID``), ``event: tick`` (``{"snapshot": ..., "alerts": [...]}``), ``event:
dropped`` (``{"count": n}``).
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from .._results import Crashed, LifecycleEvent, Restarted
from ._alerts import AlertRules, AlertWatch
from ._events import event_to_dict

if TYPE_CHECKING:
    from .._runtime import Runtime

logger: Final = logging.getLogger("noex_trio.observer")

#: Crashes and restarts a new client is sent (the timeline of a page opened late).
BACKLOG: Final = 200
#: Lifecycle events queued per client before the oldest are dropped.
QUEUE: Final = 2000


def encode(data: object) -> str:
    """Compact JSON (a snapshot is plain data: only str, int, float, bool, None, list, dict)."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


def frame(event: str, data: str, seq: int | None = None) -> bytes:
    """One Server-Sent Events frame (`data` is one line of JSON)."""
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()


@attrs.frozen(kw_only=True)
class FeedStatistics:
    """What the feed did so far (`WebEndpoint.statistics` reports it)."""

    clients: int
    events: int
    dropped: int
    ticks: int
    snapshot_seconds: float | None


class Client:
    """One connected client's queue: lifecycle frames (bounded) and the latest tick."""

    __slots__ = ("_wake", "closed", "dropped", "events", "tick")

    def __init__(self) -> None:
        self.closed = False
        self.events: deque[bytes] = deque()
        self.dropped = 0
        self.tick: bytes | None = None
        self._wake = trio.Event()

    def push_event(self, data: bytes) -> None:
        if len(self.events) >= QUEUE:
            self.events.popleft()
            self.dropped += 1
        self.events.append(data)
        self._wake.set()

    def push_tick(self, data: bytes) -> None:
        self.tick = data
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def next(self) -> bytes | None:
        """Wait for something to send; what accumulated since, as one chunk (None once the
        feed closed and nothing is left)."""
        await self._wake.wait()
        self._wake = trio.Event()
        chunks = []
        if self.dropped:
            chunks.append(frame("dropped", encode({"count": self.dropped})))
            self.dropped = 0
        chunks.extend(self.events)
        self.events.clear()
        if self.tick is not None:
            chunks.append(self.tick)
            self.tick = None
        if self.closed and not chunks:
            return None
        return b"".join(chunks)


class Feed:
    """Lifecycle events and periodic figures of one runtime, for any number of clients."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        interval: float,
        rules: AlertRules,
        snapshot: Callable[[], dict[str, Any]],
    ) -> None:
        self.runtime = runtime
        self.interval = interval
        self.rules = rules
        self._snapshot = snapshot
        self._watch = AlertWatch(rules)
        self._clients: dict[Client, None] = {}
        self._backlog: deque[tuple[int, bytes]] = deque(maxlen=BACKLOG)
        self._seq = 0
        self._dropped = 0
        self._ticks = 0
        self._snapshot_seconds: float | None = None
        self._joined = trio.Event()
        self.closed = False
        self._unsubscribe = runtime.on_lifecycle_event(self._on_event)

    def statistics(self) -> FeedStatistics:
        return FeedStatistics(
            clients=len(self._clients),
            events=self._seq,
            dropped=self._dropped + sum(client.dropped for client in self._clients),
            ticks=self._ticks,
            snapshot_seconds=self._snapshot_seconds,
        )

    # -- clients --

    def hello(self) -> bytes:
        """The first frame a client gets: who it talks to, and how the figures come."""
        data = {
            "runtime": self.runtime.name,
            "interval": self.interval,
            "rules": self.rules.to_dict(),
        }
        return b"retry: 2000\n\n" + frame("hello", encode(data))

    def connect(self, last_seq: int | None = None) -> Client:
        """A new client; it starts with the backlog (after `last_seq`, if it reconnects)."""
        client = Client()
        for seq, data in self._backlog:
            if last_seq is None or seq > last_seq:
                client.push_event(data)
        self._clients[client] = None
        self._joined.set()
        return client

    def disconnect(self, client: Client) -> None:
        if client in self._clients:
            del self._clients[client]
            self._dropped += client.dropped

    def close(self) -> None:
        """No more events or ticks: every client's stream ends (idempotent)."""
        self.closed = True
        self._unsubscribe()
        self._joined.set()
        for client in self._clients:
            client.close()

    # -- sources --

    def _on_event(self, event: LifecycleEvent) -> None:
        timeline = type(event) is Crashed or type(event) is Restarted
        if not (self._clients or timeline):
            return  # (a start or an exit seen by nobody)
        data = event_to_dict(event)
        self._seq += 1
        chunk = frame("lifecycle", encode(data), self._seq)
        if timeline:
            self._backlog.append((self._seq, chunk))
        for client in self._clients:
            client.push_event(chunk)

    def tick(self) -> dict[str, Any]:
        """A snapshot and the alerts that hold now (the payload of a ``tick`` frame)."""
        started = time.perf_counter()
        snapshot = self._snapshot()
        self._snapshot_seconds = time.perf_counter() - started
        alerts = [alert.to_dict() for alert in self._watch.check(snapshot)]
        return {"snapshot": snapshot, "alerts": alerts}

    async def run(self) -> None:
        """The ticker (see the module docstring); returns once the feed is closed."""
        while not self.closed:
            if not self._clients:
                await self._joined.wait()
                self._joined = trio.Event()
                continue
            self._joined = trio.Event()
            try:
                payload = self.tick()
                # Encoding a large snapshot takes milliseconds: off the Trio thread, so the
                # runtime's processes go on meanwhile (the payload is not shared with anyone).
                data = await trio.to_thread.run_sync(encode, payload)
            except Exception:
                # The observer must not take the observed program down: say it, try again.
                logger.exception("observer: building the dashboard's snapshot failed")
            else:
                chunk = frame("tick", data)
                self._ticks += 1
                for client in self._clients:
                    client.push_tick(chunk)
            with trio.move_on_after(self.interval):
                await self._joined.wait()
