"""GenServer hot paths: call round trip, cast throughput, spawn+stop.

Each noex figure is paired with the bare-Trio code a user would write instead:

- call: a server task and a client talking over two memory channels (request channel, reply
  channel), both sides using ``await send`` / ``await receive``;
- cast: ``send_nowait`` into an unbounded memory channel drained by one task;
- spawn+stop: ``await nursery.start(task)`` of a task that calls ``task_status.started()`` and
  returns.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import trio
import trio.testing

from noex_trio import GenServer, GenServerRef, open_runtime

from ._harness import Row, Settings, Target, paired, timed


class Echo(GenServer[int, int, int, int]):
    """Replies with the message; counts casts."""

    def init(self, start: int = 0) -> int:
        return start

    def handle_call(self, msg: int, state: int) -> tuple[int, int]:
        return msg, state

    def handle_cast(self, msg: int, state: int) -> int:
        return state + 1


# --- bare baselines -------------------------------------------------------------------------


async def bare_ping_pong(n: int, clients: int = 1) -> float:
    """Seconds for `n` round trips over two memory channels (one reply channel per client)."""
    req_send, req_recv = trio.open_memory_channel[tuple[int, trio.MemorySendChannel[int]]](math.inf)

    async def server() -> None:
        async for msg, reply in req_recv:
            await reply.send(msg)

    async def client(count: int) -> None:
        reply_send, reply_recv = trio.open_memory_channel[int](math.inf)
        for i in range(count):
            await req_send.send((i, reply_send))
            await reply_recv.receive()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(server)

        async def run() -> None:
            async with trio.open_nursery() as inner:
                for _ in range(clients):
                    inner.start_soon(client, n // clients)

        seconds = await timed(run)
        nursery.cancel_scope.cancel()
    return seconds


async def bare_drain(n: int) -> float:
    """Seconds to ``send_nowait`` `n` items into a channel and have one task drain them all."""
    send, recv = trio.open_memory_channel[int](math.inf)
    done = trio.Event()

    async def drainer() -> None:
        count = 0
        async for _ in recv:
            count += 1
            if count == n:
                done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(drainer)
        await trio.testing.wait_all_tasks_blocked()

        async def run() -> None:
            for i in range(n):
                send.send_nowait(i)
            await done.wait()

        seconds = await timed(run)
        nursery.cancel_scope.cancel()
    return seconds


async def _trivial(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started()


async def bare_spawn(n: int) -> float:
    """Seconds for `n` sequential ``nursery.start`` of a trivial task (and their exits)."""

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                await nursery.start(_trivial)

    return await timed(run)


# --- noex side --------------------------------------------------------------------------------


async def noex_calls(ref: GenServerRef[int, int, int], n: int, clients: int = 1) -> float:
    async def client(count: int) -> None:
        call = ref.call
        for i in range(count):
            await call(i)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(clients):
                nursery.start_soon(client, n // clients)

    return await timed(run)


async def noex_casts(ref: GenServerRef[int, int, int], n: int) -> float:
    async def run() -> None:
        cast = ref.cast
        for i in range(n):
            cast(i)
        await ref.call(0)  # the flush: every cast before it has been handled

    return await timed(run)


async def noex_spawn_stop(n: int) -> float:
    async def run() -> None:
        for _ in range(n):
            ref = await GenServer.start(Echo)
            await ref.stop()

    return await timed(run)


# --- scenarios --------------------------------------------------------------------------------


async def call_round_trip(settings: Settings) -> list[Row]:
    """Scenario 1: call round trip, sequential and with 10/100 concurrent callers."""
    # Twice the rounds at half the size: call is the figure most sensitive to a noisy
    # neighbour, and more, shorter back-to-back pairs make the median ratio steadier.
    n = settings.n(10_000, 2_000)
    rounds = settings.rounds * 2
    rows = []
    async with open_runtime():
        ref = await GenServer.start(Echo)
        await noex_calls(ref, 1_000)  # warm-up
        await bare_ping_pong(1_000)
        for clients in (1, 10, 100):
            row = Row(
                "call",
                "sequential" if clients == 1 else f"{clients} concurrent callers",
                "us/call",
                baseline="two memory channels (request + per-client reply), await send/receive",
                target=Target(">=", 1.2),
            )
            for r in range(rounds):
                nx, bare = await paired(
                    r, partial(noex_calls, ref, n, clients), partial(bare_ping_pong, n, clients)
                )
                row.add(nx / n * 1e6, bare / n * 1e6)
            rows.append(row)
        await ref.stop()
    return rows


async def cast_throughput(settings: Settings) -> list[Row]:
    """Scenario 2: casts then one call to flush, vs ``send_nowait`` drained by one task."""
    n = settings.n(100_000, 20_000)
    row = Row(
        "cast",
        f"{n:,} casts + 1 flushing call",
        "us/cast",
        baseline="send_nowait into an unbounded channel drained by one task",
        target=Target(">=", 0.8),
    )
    async with open_runtime():
        ref = await GenServer.start(Echo)
        await noex_casts(ref, 1_000)
        await bare_drain(1_000)
        for r in range(settings.rounds):
            nx, bare = await paired(r, lambda: noex_casts(ref, n), lambda: bare_drain(n))
            row.add(nx / n * 1e6, bare / n * 1e6)
        await ref.stop()
    return [row]


async def spawn_stop(settings: Settings) -> list[Row]:
    """Scenario 3: GenServer start+stop vs ``nursery.start`` of a trivial task."""
    n = settings.n(5_000, 1_000)
    row = Row(
        "spawn+stop",
        "GenServer.start + stop, sequential",
        "us/process",
        baseline="nursery.start of a task that calls task_status.started() and returns",
        target=Target(">=", 0.3),
    )
    async with open_runtime():
        await noex_spawn_stop(200)
        await bare_spawn(200)
        for r in range(settings.rounds):
            nx, bare = await paired(r, lambda: noex_spawn_stop(n), lambda: bare_spawn(n))
            row.add(nx / n * 1e6, bare / n * 1e6)
    return [row]


SCENARIOS: dict[str, Any] = {
    "call": call_round_trip,
    "cast": cast_throughput,
    "spawn": spawn_stop,
}
