"""Tests for `noex_trio.testing`: the pytest plugin and its helpers (SPEC §8)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import (
    Crashed,
    GenServer,
    Registry,
    Runtime,
    ServerNotRunningError,
    Started,
    Terminated,
    current_runtime,
)
from noex_trio.testing import EventRecorder, crash, kill, wait_exit

from .conftest import Counter, Echo

pytest_plugins = ["pytester"]


async def test_runtime_fixture(runtime: Runtime) -> None:
    assert current_runtime() is runtime
    assert runtime.name == "test"
    ref = await GenServer.start(Counter, name="c")
    assert Registry.lookup("c") is ref


async def test_crash_goes_through_the_real_crash_path(runtime: Runtime) -> None:
    behaviour = Echo()
    ref = await GenServer.start(behaviour, name="victim")
    with EventRecorder(runtime) as events:
        crash("victim")
        reason = await wait_exit(ref)
    assert isinstance(reason, RuntimeError)
    assert re.fullmatch(r"victim#\d+ crashed on purpose", str(reason))
    assert behaviour.terminated == [(reason, [])]
    assert events.events == [Crashed(ref, reason), Terminated(ref, reason)]
    crash(ref)  # a dead process: nothing happens


async def test_crash_with_a_given_error_behind_queued_messages(runtime: Runtime) -> None:
    behaviour = Echo()
    ref = await GenServer.start(behaviour)
    error = ValueError("planned")
    ref.cast("before")
    crash(ref, error)
    assert await wait_exit(ref) is error
    assert ("cast", "before") in behaviour.seen
    with pytest.raises(TypeError, match=r"^expected error to be an exception instance, got 'x'$"):
        crash(await GenServer.start(Counter), "x")  # type: ignore[arg-type]


async def test_kill_skips_terminate(
    runtime: Runtime, autojump_clock: trio.testing.MockClock
) -> None:
    async def forever(state: Any) -> Any:
        await trio.sleep_forever()

    behaviour = Echo()
    ref = await GenServer.start(behaviour)
    failures: list[Any] = []

    async def waiting_call() -> None:
        with pytest.raises(ServerNotRunningError) as info:
            await ref.call(forever, timeout=100.0)
        failures.append(info.value.reason)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiting_call)
        await trio.testing.wait_all_tasks_blocked()
        t0 = trio.current_time()
        kill(ref)  # overtakes the mailbox, now
        assert await wait_exit(ref) == "killed"
        assert trio.current_time() == t0
    assert failures == ["killed"]
    assert behaviour.terminated == []


async def test_kill_with_a_reason_runs_terminate(runtime: Runtime) -> None:
    behaviour = Echo()
    ref = await GenServer.start(behaviour, name="k")
    error = OSError("gone")
    with EventRecorder(runtime) as events:
        kill("k", error)
        assert await wait_exit(ref) is error
        found = await events.wait_for(Terminated)
    assert found == [Terminated(ref, error)]
    assert behaviour.terminated == [(error, [])]


async def test_wait_exit(runtime: Runtime) -> None:
    ref = await GenServer.start(Counter)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ref.stop)
        assert await wait_exit(ref) == "normal"
    assert await wait_exit(ref) == "normal"  # already dead: returns at once
    with pytest.raises(TypeError, match=r"^expected target to be a process ref, got 'x'$"):
        await wait_exit("x")  # type: ignore[arg-type]


async def test_event_recorder_waits_without_sleeping(runtime: Runtime) -> None:
    recorder = EventRecorder(runtime)
    refs: list[Any] = []

    async def start_later() -> None:
        await trio.testing.wait_all_tasks_blocked()
        refs.extend([await GenServer.start(Counter) for _ in range(3)])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(start_later)
        started = await recorder.wait_for(Started, count=3)
    assert [event.ref for event in started] == refs
    recorder.close()
    await GenServer.start(Counter)
    assert len(recorder.events) == 3


def test_plugin_is_registered_and_nothing_is_autouse(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    pytester.makepyfile(
        """
        from noex_trio import Runtime, current_runtime

        async def test_uses_runtime(runtime: Runtime) -> None:
            assert current_runtime() is runtime

        async def test_without_runtime() -> None:
            import pytest
            from noex_trio import NoRuntimeError
            with pytest.raises(NoRuntimeError):
                current_runtime()
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


async def test_kill_is_idempotent(runtime: Runtime) -> None:
    behaviour = Echo()
    ref = await GenServer.start(behaviour)
    kill(ref, "shutdown")
    kill(ref, ValueError("later"))  # the first reason stands
    assert await wait_exit(ref) == "shutdown"
    assert behaviour.terminated == [("shutdown", [])]
    kill(ref)  # dead: nothing happens
    other_behaviour = Echo()
    other = await GenServer.start(other_behaviour)
    kill(other, "shutdown")
    kill(other)  # ...except a brutal kill, which always wins (OTP's untrappable kill)
    assert await wait_exit(other) == "killed"
    assert other_behaviour.terminated == []
