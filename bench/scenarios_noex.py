"""noex's own benchmark shapes (``benchmarks/benchmark-noex.ts`` of the TypeScript library), so
that users can set our figures beside the ones noex publishes.

Same operation counts as noex's script, each beside the bare-Trio code a user would write
instead, measured in the same run (interleaved rounds, as every figure of ``python -m bench``):

- ``noex:genserver_start_stop``: 1 000 sequential ``GenServer.start`` + ``stop``; bare:
  ``nursery.start`` of a task owning a memory channel, then close the channel and wait for the
  task's end.
- ``noex:cast``: 10 000 casts then one call; bare: 10 000 ``send_nowait`` into the channel of a
  server task, then one request carrying a reply channel, and its reply.
- ``noex:call``: 5 000 sequential calls; bare: the two-channel ping-pong of ``call``.
- ``noex:supervisor``: a one_for_one supervisor started with 10 / 50 / 100 children, then
  stopped; bare: ``nursery.start`` of N tasks with channels, stopped one by one in reverse.
- ``noex:registry``: 1 000 ``Registry.register`` then 1 000 ``lookup``; bare: a ``dict``.
- ``noex:event_bus``: 1 000 publishes to 10 subscriptions, timed until all 10 000 deliveries
  were made (noex's script times a fixed 100 ms sleep instead); bare: one channel and draining
  task per subscriber.

Figures are rates (operations per second, as noex prints them; higher is better). The runs
whose total is a few milliseconds or less (supervisor, registry) repeat the shape within each
round and report the rate over all repetitions. Each row's note quotes noex's published figure
(another language and runtime, measured in another run): see docs/performance.md.
"""

from __future__ import annotations

import gc
import math
import time
from functools import partial
from typing import Any

import trio

from noex_trio import (
    ChildSpec,
    EventBus,
    GenServer,
    GenServerRef,
    Registry,
    Supervisor,
    open_runtime,
)

from ._harness import Row, Settings, paired, timed
from .scenarios_event_bus import _bare_fanout_rate, _bus_rate, _Counter
from .scenarios_gen_server import Echo, bare_ping_pong, bare_spawn_channel, channel_task, noex_calls

#: noex's figures, operations per second: its benchmark script compiled from TypeScript and run
#: on Node 20 (V8), medians of 3 runs on an idle 2-vCPU VM, at another time (the project's
#: inventory of noex, section "Benchmarks", set B). See docs/performance.md.
PUBLISHED: dict[str, str] = {
    "start_stop": "32,616/s",
    "cast": "351,641/s",
    "call": "165,680/s",
    "sup start 10": "10,581/s",
    "sup stop 10": "9,612/s",
    "sup start 50": "69,313/s",
    "sup stop 50": "48,046/s",
    "sup start 100": "18,737/s",
    "sup stop 100": "19,501/s",
    "register": "697,464/s",
    "lookup": "3,258,868/s",
    "event_bus": "9,832/s timing a fixed 100 ms sleep; 53,663/s timed to delivery",
}


def _note(key: str) -> str:
    return f"noex (TypeScript on Node 20, another run and machine): {PUBLISHED[key]}"


# --- GenServer start/stop x 1000 -----------------------------------------------------------


async def _noex_start_stop(n: int) -> float:
    async def run() -> None:
        for _ in range(n):
            ref = await GenServer.start(Echo)
            await ref.stop()

    return n / await timed(run)


async def _bare_start_stop(n: int) -> float:
    return n / await bare_spawn_channel(n)


async def genserver_start_stop(settings: Settings) -> list[Row]:
    """noex's "GenServer start/stop (1000)"."""
    n = 1_000
    row = Row(
        "noex:genserver_start_stop",
        f"{n:,} x start + stop, sequential",
        "ops/s",
        baseline="nursery.start of a task with a memory channel; close it, wait for its end",
        kind="rate",
        note=_note("start_stop"),
    )
    async with open_runtime():
        await _noex_start_stop(100)
        await _bare_start_stop(100)
        for r in range(settings.rounds):
            row.add(*await paired(r, partial(_noex_start_stop, n), partial(_bare_start_stop, n)))
    return [row]


# --- cast x 10 000 + one call -----------------------------------------------------------------


async def _noex_casts_then_call(ref: GenServerRef[int, int, int], n: int) -> float:
    async def run() -> None:
        cast = ref.cast
        for i in range(n):
            cast(i)
        await ref.call(0)

    return n / await timed(run)


async def _bare_casts_then_call(n: int) -> float:
    send, recv = trio.open_memory_channel[tuple[int, trio.MemorySendChannel[int] | None]](math.inf)

    async def server() -> None:
        async for msg, reply in recv:
            if reply is not None:
                await reply.send(msg)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(server)
        reply_send, reply_recv = trio.open_memory_channel[int](1)

        async def run() -> None:
            for i in range(n):
                send.send_nowait((i, None))
            await send.send((0, reply_send))
            await reply_recv.receive()

        seconds = await timed(run)
        nursery.cancel_scope.cancel()
    return n / seconds


async def cast_then_call(settings: Settings) -> list[Row]:
    """noex's "GenServer cast (10,000)": 10 000 casts, then one call."""
    n = 10_000
    row = Row(
        "noex:cast",
        f"{n:,} casts + 1 call",
        "casts/s",
        baseline="send_nowait into a server task's channel, then one request/reply",
        kind="rate",
        note=_note("cast"),
    )
    async with open_runtime():
        ref = await GenServer.start(Echo)
        await _noex_casts_then_call(ref, 1_000)
        await _bare_casts_then_call(1_000)
        for r in range(settings.rounds):
            row.add(
                *await paired(
                    r, partial(_noex_casts_then_call, ref, n), partial(_bare_casts_then_call, n)
                )
            )
        await ref.stop()
    return [row]


# --- call x 5 000 -----------------------------------------------------------------------------


async def call_5000(settings: Settings) -> list[Row]:
    """noex's "GenServer call (5,000 sequential)"."""
    n = 5_000
    row = Row(
        "noex:call",
        f"{n:,} calls, sequential",
        "calls/s",
        baseline="two memory channels (request + reply), await send/receive",
        kind="rate",
        note=_note("call"),
    )

    async with open_runtime():
        ref = await GenServer.start(Echo)

        async def noex() -> float:
            return n / await noex_calls(ref, n)

        async def bare() -> float:
            return n / await bare_ping_pong(n)

        await noex_calls(ref, 500)
        await bare_ping_pong(500)
        for r in range(settings.rounds):
            row.add(*await paired(r, noex, bare))
        await ref.stop()
    return [row]


# --- Supervisor start/stop with 10 / 50 / 100 children ----------------------------------------


async def _noex_supervisor(children: int, reps: int) -> tuple[float, float]:
    """Children started per second, children stopped per second, over `reps` supervisors
    (one garbage collection before them all, not one per supervisor: it would dominate)."""
    specs = [ChildSpec(f"c{i}", partial(GenServer.start, Echo)) for i in range(children)]
    started = stopped = 0.0
    gc.collect()
    for _ in range(reps):
        t0 = time.perf_counter()
        sup = await Supervisor.start(children=specs, strategy="one_for_one")
        t1 = time.perf_counter()
        await Supervisor.stop(sup)
        t2 = time.perf_counter()
        started += t1 - t0
        stopped += t2 - t1
    return children * reps / started, children * reps / stopped


async def _bare_supervisor(children: int, reps: int) -> tuple[float, float]:
    started = stopped = 0.0
    gc.collect()
    for _ in range(reps):
        async with trio.open_nursery() as nursery:
            t0 = time.perf_counter()
            sends = []
            for _ in range(children):
                done = trio.Event()
                sends.append((await nursery.start(channel_task, done), done))
            t1 = time.perf_counter()
            for send, done in reversed(sends):
                send.close()
                await done.wait()
            t2 = time.perf_counter()
        started += t1 - t0
        stopped += t2 - t1
    return children * reps / started, children * reps / stopped


async def supervisor_shapes(settings: Settings) -> list[Row]:
    """noex's "Supervisor start/stop (10 / 50 / 100 children)", one_for_one."""
    rows = []
    async with open_runtime():
        await _noex_supervisor(10, 2)
        await _bare_supervisor(10, 2)
        for children in (10, 50, 100):
            reps = settings.n(2_000, 200) // children  # ~2 000 children per round
            start_row, stop_row = (
                Row(
                    "noex:supervisor",
                    f"{what} with {children} children",
                    "children/s",
                    baseline=baseline,
                    kind="rate",
                    note=_note(f"sup {what} {children}"),
                )
                for what, baseline in (
                    ("start", f"nursery.start of {children} tasks, each with a memory channel"),
                    ("stop", "close each channel in reverse order, wait for each task's end"),
                )
            )
            for r in range(settings.rounds):
                nx, bare = await paired(
                    r,
                    partial(_noex_supervisor, children, reps),
                    partial(_bare_supervisor, children, reps),
                )
                start_row.add(nx[0], bare[0])
                stop_row.add(nx[1], bare[1])
            rows += [start_row, stop_row]
    return rows


# --- Registry register/lookup x 1000 ---------------------------------------------------------


async def registry_shapes(settings: Settings) -> list[Row]:
    """noex's "Registry register (1000)" and "Registry lookup (1000)"."""
    n = 1_000
    reps = settings.n(20, 3)
    names = [f"bench-{i}" for i in range(n)]
    register = Row(
        "noex:registry",
        f"{n:,} x register",
        "ops/s",
        baseline="d[name] = ref",
        kind="rate",
        note=_note("register"),
    )
    lookup = Row(
        "noex:registry",
        f"{n:,} x lookup",
        "ops/s",
        baseline="d[name]",
        kind="rate",
        note=_note("lookup"),
    )
    async with open_runtime():
        ref = await GenServer.start(Echo)

        def noex() -> tuple[float, float]:
            registering = looking_up = 0.0
            for _ in range(reps):
                t0 = time.perf_counter()
                for name in names:
                    Registry.register(name, ref)
                t1 = time.perf_counter()
                for name in names:
                    Registry.lookup(name)
                t2 = time.perf_counter()
                registering += t1 - t0
                looking_up += t2 - t1
                for name in names:
                    Registry.unregister(name)
            return n * reps / registering, n * reps / looking_up

        def bare() -> tuple[float, float]:
            registering = looking_up = 0.0
            for _ in range(reps):
                table: dict[str, Any] = {}
                t0 = time.perf_counter()
                for name in names:
                    table[name] = ref
                t1 = time.perf_counter()
                for name in names:
                    _ = table[name]
                t2 = time.perf_counter()
                registering += t1 - t0
                looking_up += t2 - t1
            return n * reps / registering, n * reps / looking_up

        noex()
        bare()
        for r in range(settings.rounds):
            if r % 2:
                b, nx = bare(), noex()
            else:
                nx, b = noex(), bare()
            register.add(nx[0], b[0])
            lookup.add(nx[1], b[1])
            await trio.lowlevel.checkpoint()
        await ref.stop()
    return [register, lookup]


# --- EventBus publish x 1000 to 10 subscribers ------------------------------------------------


async def event_bus_shape(settings: Settings) -> list[Row]:
    """noex's "EventBus publish (10 subs)", timed until every event reached every subscriber."""
    events, subscribers = 1_000, 10
    row = Row(
        "noex:event_bus",
        f"{events:,} publishes to {subscribers} subscribers, until delivered",
        "publishes/s",
        baseline=f"send_nowait into {subscribers} channels, one draining task each",
        kind="rate",
        note=_note("event_bus"),
    )
    deliveries = events * subscribers
    async with open_runtime():
        bus = await EventBus.start()
        counter = _Counter()
        for _ in range(subscribers):
            await EventBus.subscribe(bus, "bench.event", counter)

        async def noex() -> float:
            return await _bus_rate(bus, counter, events, deliveries) / subscribers

        async def bare() -> float:
            return await _bare_fanout_rate(subscribers, events) / subscribers

        await noex()
        await bare()
        for r in range(settings.rounds):
            row.add(*await paired(r, noex, bare))
        await EventBus.stop(bus)
    return [row]


SCENARIOS: dict[str, Any] = {
    "noex:genserver_start_stop": genserver_start_stop,
    "noex:cast": cast_then_call,
    "noex:call": call_5000,
    "noex:supervisor": supervisor_shapes,
    "noex:registry": registry_shapes,
    "noex:event_bus": event_bus_shape,
}
