"""EventBus delivery rate.

Baselines:

- k matching subscriptions: the publisher ``send_nowait``s each event into k unbounded memory
  channels, each drained by its own task that calls the handler (one task per subscription, as
  the EventBus guarantees that a slow handler delays only its own subscription). Figures are
  *deliveries* (handler invocations) per second.
- 10 000 non-matching subscriptions: the baseline is a bus with only the one matching
  subscription, measured in the same round (target: >= 0.8 of that rate).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import trio
import trio.testing

from noex_trio import EventBus, open_runtime

from ._harness import Row, Settings, Target, paired, timed

# --- EventBus ---------------------------------------------------------------------------------


class _Counter:
    """A handler counting deliveries; sets `done` when `expected` were delivered."""

    def __init__(self) -> None:
        self.count = 0
        self.expected = 0
        self.done = trio.Event()

    def reset(self, expected: int) -> None:
        self.count = 0
        self.expected = expected
        self.done = trio.Event()

    def __call__(self, data: object, topic: str) -> None:
        self.count += 1
        if self.count == self.expected:
            self.done.set()


async def _bus_rate(bus: Any, counter: _Counter, events: int, deliveries: int) -> float:
    """Deliveries per second for `events` publishes that must reach `deliveries` handlers."""
    counter.reset(deliveries)

    async def run() -> None:
        publish = EventBus.publish
        for i in range(events):
            publish(bus, "bench.event", i)
        await counter.done.wait()

    return deliveries / await timed(run)


async def _bare_fanout_rate(subscribers: int, events: int) -> float:
    """Deliveries per second of a hand-rolled fan-out: one channel + task per subscriber."""
    counter = _Counter()
    counter.reset(subscribers * events)
    sends: list[trio.MemorySendChannel[tuple[str, object]]] = []

    async def drain(
        handler: Callable[[object, str], None], recv: trio.MemoryReceiveChannel[tuple[str, object]]
    ) -> None:
        async for topic, data in recv:
            handler(data, topic)

    async with trio.open_nursery() as nursery:
        for _ in range(subscribers):
            send, recv = trio.open_memory_channel[tuple[str, object]](math.inf)
            sends.append(send)
            nursery.start_soon(drain, counter, recv)
        await trio.testing.wait_all_tasks_blocked()

        async def run() -> None:
            for i in range(events):
                item = ("bench.event", i)
                for send in sends:
                    send.send_nowait(item)
            await counter.done.wait()

        seconds = await timed(run)
        nursery.cancel_scope.cancel()
    return subscribers * events / seconds


async def event_bus(settings: Settings) -> list[Row]:
    """Scenario 7: EventBus deliveries/s with 1/100/10 000 matching subscriptions, and with
    10 000 non-matching ones."""
    deliveries = settings.n(200_000, 40_000)
    rows = []
    async with open_runtime():
        for subs in (1, 100, 10_000):
            events = max(deliveries // subs, 5)
            row = Row(
                "event_bus",
                f"{subs:,} matching subscriptions",
                "deliveries/s",
                baseline=f"send_nowait into {subs:,} channels, one draining task each",
                kind="rate",
            )
            bus = await EventBus.start()
            counter = _Counter()
            for _ in range(subs):
                await EventBus.subscribe(bus, "bench.event", counter)
            await _bus_rate(bus, counter, min(events, 100), min(events, 100) * subs)
            for r in range(settings.rounds):
                nx, bare = await paired(
                    r,
                    partial(_bus_rate, bus, counter, events, events * subs),
                    partial(_bare_fanout_rate, subs, events),
                )
                row.add(nx, bare)
            await EventBus.stop(bus)
            rows.append(row)

        # 10 000 subscriptions that never match, next to one that does.
        events = settings.n(50_000, 10_000)
        row = Row(
            "event_bus",
            "1 matching + 10,000 non-matching",
            "deliveries/s",
            baseline="same bus set-up with the 1 matching subscription only",
            kind="rate",
            target=Target(">=", 0.8),
        )
        lone_bus = await EventBus.start()
        lone = _Counter()
        await EventBus.subscribe(lone_bus, "bench.event", lone)
        crowded_bus = await EventBus.start()
        crowded = _Counter()
        await EventBus.subscribe(crowded_bus, "bench.event", crowded)
        ignored = _Counter()
        for i in range(10_000):
            # Exact topics, one-segment wildcards and multi-segment wildcards, none matching.
            pattern = (f"other{i}.event", f"bench.other{i}", f"other{i}.*", f"other{i}.**")[i % 4]
            await EventBus.subscribe(crowded_bus, pattern, ignored)
        await _bus_rate(crowded_bus, crowded, 100, 100)
        await _bus_rate(lone_bus, lone, 100, 100)
        for r in range(settings.rounds):
            nx, bare = await paired(
                r,
                partial(_bus_rate, crowded_bus, crowded, events, events),
                partial(_bus_rate, lone_bus, lone, events, events),
            )
            row.add(nx, bare)
        assert ignored.count == 0, "a non-matching subscription received an event"
        await EventBus.stop(crowded_bus)
        await EventBus.stop(lone_bus)
        rows.append(row)
    return rows


SCENARIOS: dict[str, Any] = {"event_bus": event_bus}
