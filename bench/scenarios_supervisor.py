"""Supervisor figures: restart latency, and start/stop of a supervisor with 1 000 children.

Restart latency is measured from `noex_trio.testing.crash` (the child raises in its next
handler) to the restarted child's first reply, and expressed in bare round trips: the careful
two-channel ping-pong of `scenarios_gen_server` (``send_nowait`` on both sides, two task
switches per trip: `bare_ping_pong_nowait`), sequential, measured in the same rounds.

The 1 000-children baseline is what a hand-written Trio "supervisor" does: ``nursery.start``
1 000 tasks, each owning a memory channel; stop them one by one in reverse order (close the
channel, wait until the task has ended).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import trio

from noex_trio import (
    ChildSpec,
    GenServer,
    GenServerRef,
    LifecycleEvent,
    ProcessRef,
    Restarted,
    Supervisor,
    open_runtime,
)
from noex_trio.testing import crash

from ._harness import Row, Settings, Target, paired, timed
from .scenarios_gen_server import Echo, bare_ping_pong_nowait, channel_task


async def restart_latency(settings: Settings) -> list[Row]:
    """Scenario 4: crash -> restarted child answers a call, in bare round trips."""
    restarts = settings.n(500, 100)
    pings = settings.n(20_000, 4_000)
    row = Row(
        "restart",
        "crash -> restarted child replies, in send_nowait round trips",
        "us/restart",
        baseline=(
            "one bare round trip of the careful ping-pong (two memory channels, send_nowait on "
            "both sides, sequential)"
        ),
        kind="cost",
        target=Target("<=", 5.0),
    )
    async with open_runtime() as rt:
        sup = await Supervisor.start(
            children=[ChildSpec("echo", partial(GenServer.start, Echo))],
            strategy="one_for_one",
            max_restarts=1_000_000_000,
            max_seconds=1.0,
        )
        restarted = trio.Event()
        new_ref: list[ProcessRef] = []

        def on_event(event: LifecycleEvent) -> None:
            if isinstance(event, Restarted):
                new_ref.append(event.ref)
                restarted.set()

        unsubscribe = rt.on_lifecycle_event(on_event)

        async def noex(count: int) -> float:
            nonlocal restarted

            async def run() -> None:
                nonlocal restarted
                ref = Supervisor.get_child(sup, "echo").ref
                assert ref is not None
                for _ in range(count):
                    new_ref.clear()
                    restarted = trio.Event()
                    crash(ref)
                    await restarted.wait()
                    old, ref = ref, new_ref[-1]
                    assert isinstance(ref, GenServerRef)
                    assert ref != old
                    assert await ref.call(1) == 1

            return await timed(run)

        await noex(20)
        for r in range(settings.rounds):
            nx, bare = await paired(
                r, partial(noex, restarts), partial(bare_ping_pong_nowait, pings)
            )
            row.add(nx / restarts * 1e6, bare / pings * 1e6)
        unsubscribe()
        await Supervisor.stop(sup)
    return [row]


async def supervisor_1000(settings: Settings) -> list[Row]:
    """Scenario 5: start and stop a supervisor with 1 000 children."""
    n = 1_000
    start_row = Row(
        "supervisor",
        f"start with {n:,} children",
        "ms",
        baseline=f"nursery.start of {n:,} tasks, each with a memory channel",
    )
    stop_row = Row(
        "supervisor",
        f"stop with {n:,} children",
        "ms",
        baseline="close each channel in reverse order, wait for each task's end",
    )
    specs = [ChildSpec(f"c{i}", partial(GenServer.start, Echo)) for i in range(n)]

    async def noex() -> tuple[float, float]:
        sups: list[Any] = []

        async def start() -> None:
            sups.append(await Supervisor.start(children=specs, strategy="one_for_one"))

        started = await timed(start)
        stopped = await timed(partial(Supervisor.stop, sups[0]))
        return started, stopped

    async def bare() -> tuple[float, float]:
        sends: list[tuple[trio.MemorySendChannel[Any], trio.Event]] = []
        async with trio.open_nursery() as nursery:

            async def start() -> None:
                for _ in range(n):
                    done = trio.Event()
                    sends.append((await nursery.start(channel_task, done), done))

            async def stop() -> None:
                for send, done in reversed(sends):
                    send.close()
                    await done.wait()

            started = await timed(start)
            stopped = await timed(stop)
        return started, stopped

    async with open_runtime():
        await noex()
        await bare()
        for r in range(settings.rounds):
            if r % 2:
                b_start, b_stop = await bare()
                n_start, n_stop = await noex()
            else:
                n_start, n_stop = await noex()
                b_start, b_stop = await bare()
            start_row.add(n_start * 1e3, b_start * 1e3)
            stop_row.add(n_stop * 1e3, b_stop * 1e3)
    return [start_row, stop_row]


SCENARIOS: dict[str, Any] = {
    "restart": restart_latency,
    "supervisor": supervisor_1000,
}
