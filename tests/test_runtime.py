"""Tests for `noex_trio._runtime`: SPEC §1 and §7."""

from __future__ import annotations

import re
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import (
    GenServer,
    NoexError,
    NoRuntimeError,
    Registry,
    Runtime,
    RuntimeStatistics,
    ServerNotRunningError,
    current_runtime,
    open_runtime,
)

from .conftest import Counter, Echo, assert_clean, raiser, user_processes

NO_RUNTIME = (
    r"^no noex_trio runtime is running here; "
    r"wrap your code in `async with noex_trio.open_runtime\(\):`$"
)


class Ordered(GenServer[str, str, Any, str]):
    """Appends ``(name, reason)`` to a shared log when it terminates."""

    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log

    def init(self, name: str) -> str:
        return name

    def handle_call(self, msg: str, state: str) -> tuple[str, str]:
        return state, state

    def handle_cast(self, msg: Any, state: str) -> str:  # pragma: no cover
        return state

    def terminate(self, reason: Any, state: str) -> None:
        self.log.append((state, reason))


async def start_ordered(log: list[tuple[str, Any]], *names: str) -> None:
    for name in names:
        await GenServer.start(Ordered(log), name, name=name)


# ---------------------------------------------------------------- no runtime


async def test_facades_outside_a_runtime() -> None:
    with pytest.raises(NoRuntimeError, match=NO_RUNTIME) as info:
        current_runtime()
    assert isinstance(info.value, NoexError)
    with pytest.raises(NoRuntimeError, match=NO_RUNTIME):
        await GenServer.start(Counter)
    with pytest.raises(NoRuntimeError, match=NO_RUNTIME):
        await GenServer.call("x", "get")
    with pytest.raises(NoRuntimeError, match=NO_RUNTIME):
        GenServer.cast("x", 1)
    with pytest.raises(NoRuntimeError, match=NO_RUNTIME):
        GenServer.is_running("x")
    with pytest.raises(NoRuntimeError, match=NO_RUNTIME):
        GenServer.on_lifecycle_event(print)
    with pytest.raises(NoRuntimeError, match=NO_RUNTIME):
        Registry.lookup("x")
    with pytest.raises(NoRuntimeError, match=NO_RUNTIME):
        Registry.names()
    # stop of an unknown name needs the registry too
    with pytest.raises(NoRuntimeError, match=NO_RUNTIME):
        await GenServer.stop("x")


async def test_current_runtime_inside_and_after() -> None:
    async with open_runtime(name="app") as rt:
        assert current_runtime() is rt
        assert rt.name == "app"
        assert repr(rt) == "<Runtime 'app'>"

        async def child() -> None:
            assert current_runtime() is rt

        async with trio.open_nursery() as nursery:
            nursery.start_soon(child)
    with pytest.raises(NoRuntimeError):
        current_runtime()
    assert open_runtime().name == "runtime"
    with pytest.raises(TypeError, match=r"^expected name to be a str or None, got 3$"):
        open_runtime(name=3)  # type: ignore[arg-type]


async def test_entering_twice_fails() -> None:
    rt = open_runtime()
    async with rt:
        with pytest.raises(NoexError, match=r"^<Runtime 'runtime'> was already entered"):
            async with rt:
                pass  # pragma: no cover
    with pytest.raises(NoexError, match=r"was already entered"):
        async with rt:
            pass  # pragma: no cover


# ---------------------------------------------------------------- isolation


async def test_two_runtimes_side_by_side_share_nothing() -> None:
    seen: dict[str, Any] = {}
    both_started = trio.Event()
    ready: list[Runtime] = []

    async def world(label: str) -> None:
        async with open_runtime(name=label) as rt:
            ref = await GenServer.start(Counter, len(label), name="same")
            ready.append(rt)
            if len(ready) == 2:
                both_started.set()
            await both_started.wait()
            seen[label] = (rt, ref, await GenServer.call("same", "get"), Registry.names())
        assert_clean(rt)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(world, "a")
        nursery.start_soon(world, "bb")
    rt_a, ref_a, value_a, names_a = seen["a"]
    rt_b, ref_b, value_b, names_b = seen["bb"]
    assert rt_a is not rt_b
    assert ref_a is not ref_b
    assert (value_a, value_b) == (1, 2)
    assert names_a == names_b == ["same"]
    assert ref_a.id == ref_b.id  # ids are per runtime


# ---------------------------------------------------------------- shutdown


async def test_leaving_stops_processes_in_reverse_start_order() -> None:
    log: list[tuple[str, Any]] = []
    async with open_runtime() as rt:
        await start_ordered(log, "first", "second", "third")
        await GenServer.stop("second")
        await start_ordered(log, "fourth")
    assert log == [
        ("second", "normal"),
        ("fourth", "shutdown"),
        ("third", "shutdown"),
        ("first", "shutdown"),
    ]
    assert_clean(rt)


async def test_a_process_started_during_shutdown_is_stopped_too() -> None:
    log: list[tuple[str, Any]] = []

    class Spawner(Ordered):
        async def terminate(self, reason: Any, state: str) -> None:  # type: ignore[override]
            super().terminate(reason, state)
            await GenServer.start(Ordered(log), "late")

    async with open_runtime() as rt:
        await GenServer.start(Spawner(log), "spawner")
    assert log == [("spawner", "shutdown"), ("late", "shutdown")]
    assert_clean(rt)


async def test_unsupervised_crash_is_logged_and_runtime_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with open_runtime() as rt:
        ref = await GenServer.start(Echo, name="fragile")
        other = await GenServer.start(Counter)
        ref.cast(raiser(ZeroDivisionError("oops")))
        assert isinstance(await GenServer.wait_exit(ref), ZeroDivisionError)
        assert await other.call("incr") == 1
        again = await GenServer.start(Counter, name="fragile")
        assert await again.call("get") == 0
    assert re.search(r"fragile#\d+ crashed \(supervisor: none\)", caplog.text)
    assert "ZeroDivisionError: oops" in caplog.text
    assert_clean(rt)


async def test_body_exception_propagates_unchanged_after_shutdown() -> None:
    log: list[tuple[str, Any]] = []
    error = LookupError("from the body")
    with pytest.raises(LookupError) as info:  # noqa: PT012 - a plain exception, no ExceptionGroup
        async with open_runtime() as rt:
            await start_ordered(log, "a", "b")
            raise error
    assert info.value is error
    assert log == [("b", "shutdown"), ("a", "shutdown")]
    assert_clean(rt)


async def test_outer_cancellation_still_shuts_down_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[tuple[str, Any]] = []
    with trio.move_on_after(10) as scope:
        async with open_runtime() as rt:
            await start_ordered(log, "a", "b", "c")
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert trio.current_time() == 10
    assert log == [("c", "shutdown"), ("b", "shutdown"), ("a", "shutdown")]
    assert_clean(rt)


async def test_keyboard_interrupt_in_a_handler(autojump_clock: trio.testing.MockClock) -> None:
    log: list[tuple[str, Any]] = []
    with pytest.raises(KeyboardInterrupt):  # noqa: PT012 - the runtime block is under test
        async with open_runtime() as rt:
            await start_ordered(log, "a", "b")
            ref = await GenServer.start(Echo)
            ref.cast(raiser(KeyboardInterrupt()))
            await trio.sleep_forever()
    assert log == [("b", "shutdown"), ("a", "shutdown")]
    assert ref.exit_reason == "shutdown"
    assert_clean(rt)


async def test_keyboard_interrupt_fails_the_waiting_caller() -> None:
    caught: list[BaseException] = []
    with pytest.raises(KeyboardInterrupt):  # noqa: PT012 - the runtime block is under test
        async with open_runtime():
            ref = await GenServer.start(Echo)
            try:
                await ref.call(raiser(KeyboardInterrupt()))
            except ServerNotRunningError as exc:
                caught.append(exc)
            await trio.sleep_forever()
    assert len(caught) == 1


# ---------------------------------------------------------------- statistics, lifecycle


async def test_statistics(rt: Runtime) -> None:
    base = rt.statistics()
    assert isinstance(base, RuntimeStatistics)
    assert base.registered_names == 0
    ref = await GenServer.start(Echo, name="x")
    stats = rt.statistics()
    assert stats.processes == base.processes + 1
    assert stats.registered_names == 1
    ref.cast(raiser(ValueError("x")))
    ref.cast("dropped")
    await GenServer.wait_exit(ref)
    stats = rt.statistics()
    assert stats == RuntimeStatistics(
        processes=base.processes,
        registered_names=0,
        dead_letters=base.dead_letters + 1,
        crashes=base.crashes + 1,
        restarts=base.restarts,
    )
    assert user_processes(rt) == []
    with pytest.raises(AttributeError):
        stats.processes = 3  # type: ignore[misc]


async def test_processes_in_start_order(rt: Runtime) -> None:
    a = await GenServer.start(Counter)
    b = await GenServer.start(Counter)
    assert user_processes(rt) == [a, b]


# ---------------------------------------------------------------- edges


async def test_event_bus_and_host_outside_the_block() -> None:
    rt = open_runtime()
    with pytest.raises(NoexError, match=r"^<Runtime 'runtime'> is not running$"):
        rt.event_bus  # noqa: B018
    async with rt:
        assert rt.event_bus.is_running()
    assert not rt.event_bus.is_running()


async def test_a_failing_service_start_closes_the_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    import noex_trio._open_runtime

    async def broken() -> Any:
        await trio.lowlevel.checkpoint()
        raise OSError("no bus")

    monkeypatch.setattr(noex_trio._open_runtime, "start_default_bus", broken)
    rt = open_runtime()
    with pytest.raises(OSError, match=r"^no bus$"):
        async with rt:
            pass  # pragma: no cover
    with pytest.raises(NoRuntimeError):
        current_runtime()
    assert_clean(rt)


async def test_one_fatal_error_leaves_the_runtime() -> None:
    """Two processes hit by Ctrl-C at once: the first one recorded is raised, alone."""
    errors = [KeyboardInterrupt("first"), KeyboardInterrupt("second")]
    with pytest.raises(KeyboardInterrupt) as info:  # noqa: PT012 - the runtime block is under test
        async with open_runtime():
            a = await GenServer.start(Echo)
            b = await GenServer.start(Echo)
            a.cast(raiser(errors[0]))
            b.cast(raiser(errors[1]))
            await trio.sleep_forever()
    assert info.value in errors
    assert a.exit_reason == b.exit_reason == "shutdown"


async def test_default_event_bus_is_a_service(rt: Runtime) -> None:
    bus = rt.event_bus
    assert bus in rt.processes()
    assert bus not in user_processes(rt)
