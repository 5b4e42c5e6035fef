"""Tests for `noex_trio._timers`: ``GenServer.send_after`` / ``GenServer.cancel_timer``."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import GenServer, Registry, Runtime, ServerNotRunningError, TimerRef
from noex_trio._process import process_of

from .conftest import Echo


class Stamps(GenServer[list[tuple[Any, float]], str, Any, list[tuple[Any, float]]]):
    """Records each cast with the virtual time it arrived."""

    def init(self) -> list[tuple[Any, float]]:
        return []

    def handle_call(self, msg: str, state: list[Any]) -> tuple[list[Any], list[Any]]:
        return state, state

    def handle_cast(self, msg: Any, state: list[Any]) -> list[Any]:
        return [*state, (msg, trio.current_time())]


async def test_send_after_delivers_a_cast_after_exactly_delay(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Stamps, name="stamps")
    t0 = trio.current_time()
    timer = GenServer.send_after(ref, "tick", 2.5)
    GenServer.send_after("stamps", "by-name", 1)
    GenServer.send_after(ref, "now", 0)
    assert isinstance(timer, TimerRef)
    assert timer.pending
    assert re.fullmatch(r"<TimerRef to stamps#\d+ pending>", repr(timer))
    await trio.sleep(3)
    assert await ref.call("get") == [("now", t0), ("by-name", t0 + 1), ("tick", t0 + 2.5)]
    assert [timer.pending] == [False]
    assert re.fullmatch(r"<TimerRef to stamps#\d+ done>", repr(timer))
    assert GenServer.cancel_timer(timer) is False  # already fired


async def test_cancel_timer(rt: Runtime, autojump_clock: trio.testing.MockClock) -> None:
    ref = await GenServer.start(Stamps)
    timer = GenServer.send_after(ref, "never", 1)
    assert GenServer.cancel_timer(timer) is True
    assert not timer.pending
    assert GenServer.cancel_timer(timer) is False  # already cancelled
    await trio.sleep(2)
    assert await ref.call("get") == []
    with pytest.raises(TypeError, match=r"^expected timer to be a TimerRef, got 'timer'$"):
        GenServer.cancel_timer("timer")  # type: ignore[arg-type]


async def test_name_is_resolved_when_scheduling(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    first = await GenServer.start(Stamps, name="svc")
    GenServer.send_after("svc", "for-first", 1)
    Registry.unregister("svc")
    second = await GenServer.start(Stamps, name="svc")
    await trio.sleep(2)
    assert [m for m, _ in await first.call("get")] == ["for-first"]
    assert await second.call("get") == []


async def test_no_timer_outlives_its_process(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    behaviour = Echo()
    ref = await GenServer.start(behaviour)
    timers = [GenServer.send_after(ref, f"m{i}", 5 + i) for i in range(3)]
    await ref.stop()
    assert [t.pending for t in timers] == [False, False, False]
    assert [GenServer.cancel_timer(t) for t in timers] == [False, False, False]
    t0 = trio.current_time()
    await trio.sleep(100)
    assert trio.current_time() == t0 + 100
    assert [kind for kind, _ in behaviour.seen] == ["init"]
    assert process_of(ref).exit_hooks is None


async def test_timer_to_a_stopping_process_is_a_dead_letter(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    class SlowStop(Stamps):
        async def terminate(self, reason: Any, state: Any) -> None:
            await trio.sleep(10)

    ref = await GenServer.start(SlowStop)
    GenServer.send_after(ref, "late", 1)
    before = rt.statistics().dead_letters
    await ref.stop()  # terminate runs 10 s; the timer fires meanwhile, into a stopping process
    assert rt.statistics().dead_letters == before + 1


@pytest.mark.parametrize(
    ("delay", "error", "message"),
    [
        (-1, ValueError, r"^expected delay to be a number of seconds >= 0 or math\.inf, got -1$"),
        (
            math.nan,
            ValueError,
            r"^expected delay to be a number of seconds >= 0 or math\.inf, got nan$",
        ),
        ("1", TypeError, r"^expected delay to be a number of seconds >= 0 or math\.inf, got '1'$"),
        (
            None,
            TypeError,
            r"^expected delay to be a number of seconds >= 0 or math\.inf, got None$",
        ),
        (
            True,
            TypeError,
            r"^expected delay to be a number of seconds >= 0 or math\.inf, got True$",
        ),
    ],
)
async def test_send_after_rejects_bad_delays(
    rt: Runtime, delay: Any, error: type[Exception], message: str
) -> None:
    ref = await GenServer.start(Stamps)
    with pytest.raises(error, match=message):
        GenServer.send_after(ref, "x", delay)
    assert process_of(ref).exit_hooks is None


async def test_send_after_to_dead_or_unknown(rt: Runtime) -> None:
    with pytest.raises(ServerNotRunningError, match=r"^'ghost' is not running$"):
        GenServer.send_after("ghost", "x", 1)
    ref = await GenServer.start(Stamps)
    await ref.stop()
    with pytest.raises(ServerNotRunningError, match=r"exit reason: 'normal'"):
        GenServer.send_after(ref, "x", 1)


async def test_infinite_delay_never_fires_and_is_cancelled_with_the_process(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(Stamps)
    timer = GenServer.send_after(ref, "x", math.inf)
    await trio.sleep(1000)
    assert timer.pending
    await ref.stop()
    assert not timer.pending


class SlowStamps(Stamps):
    """Each cast takes 1 s (virtual) to handle."""

    async def handle_cast(self, msg: Any, state: list[Any]) -> list[Any]:  # type: ignore[override]
        await trio.sleep(1.0)
        return [*state, (msg, trio.current_time())]


async def test_a_timer_firing_into_a_full_mailbox_waits_for_room(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(SlowStamps, mailbox_size=1)
    t0 = trio.current_time()
    ref.cast("busy")  # handled from t0 to t0 + 1
    await trio.testing.wait_all_tasks_blocked()
    ref.cast("queued")  # fills the mailbox until t0 + 1
    timer = GenServer.send_after(ref, "tick", 0.5)
    await trio.sleep(0.75)
    assert timer.pending  # fired at t0 + 0.5 into a full mailbox: still waiting, not lost
    stamps = await ref.call("get", timeout=math.inf)
    assert [msg for msg, _ in stamps] == ["busy", "queued", "tick"]
    assert stamps[-1][1] == t0 + 3.0
    assert repr(timer).endswith(" done>")  # (not `timer.pending`: mypy keeps the narrowing)
    assert rt.statistics().dead_letters == 0


async def test_cancelling_a_timer_that_waits_for_room(
    rt: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    ref = await GenServer.start(SlowStamps, mailbox_size=1)
    ref.cast("busy")
    await trio.testing.wait_all_tasks_blocked()
    ref.cast("queued")
    timer = GenServer.send_after(ref, "tick", 0.5)
    await trio.sleep(0.75)
    assert GenServer.cancel_timer(timer) is True
    stamps = await ref.call("get", timeout=math.inf)
    assert [msg for msg, _ in stamps] == ["busy", "queued"]
