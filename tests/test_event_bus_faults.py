"""Tests for the EventBus under hostile handlers: what a handler raises, broken reprs, leaks.

- `KeyboardInterrupt`/`SystemExit` from a handler end the runtime after its ordered shutdown and
  leave ``trio.run`` as the plain exception (also from inside a nursery in the handler).
- Other non-`Exception` BaseExceptions are logged like errors; the subscription stays.
- Handlers and errors whose ``__repr__``/``__str__`` raise are logged without the logging raising.
- An idle subscription keeps no exception alive; a process started from a handler may
  ``publish_sync`` to that handler.
"""

from __future__ import annotations

import gc
import logging
import re
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import EventBus, GenServer, GenServerRef, Runtime, open_runtime


class UserBaseError(BaseException):
    """A user's BaseException subclass (neither an Exception nor one of Python's own)."""


class BrokenError(Exception):
    """An exception whose ``__str__`` and ``__repr__`` raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class BrokenHandler:
    """A handler object with a broken ``__repr__`` that raises `BrokenError`."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, data: Any, topic: str) -> None:
        self.calls += 1
        raise BrokenError()

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


# ---------------------------------------------------------------- KeyboardInterrupt, SystemExit


class Stopping(GenServer[None, str, str, None]):
    """Records that its terminate ran (the ordered shutdown reached it)."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def init(self) -> None:
        return None

    def terminate(self, reason: Any, state: None) -> None:
        self.log.append(f"terminate {reason}")


def run_with_raising_handler(raising: Any, log: list[str]) -> None:
    """Run a runtime whose handler raises what `raising()` builds; returns only by raising."""

    async def handler(data: int, topic: str) -> None:
        await trio.lowlevel.checkpoint()
        log.append(f"handler {data}")
        if data == 1:
            await raising()

    async def main() -> None:
        async with open_runtime() as rt:
            await GenServer.start(Stopping(log))
            await EventBus.subscribe(rt.event_bus, "a", handler)
            await EventBus.subscribe(rt.event_bus, "a", lambda data, topic: log.append("other"))
            EventBus.publish(rt.event_bus, "a", 0)
            EventBus.publish(rt.event_bus, "a", 1)
            EventBus.publish(rt.event_bus, "a", 2)  # never handled by `handler`: it ended
            with trio.fail_after(5):  # the handler cancels this body at once
                await trio.sleep_forever()

    trio.run(main)


async def raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


async def raise_system_exit() -> None:
    raise SystemExit(3)


async def raise_in_nursery_task() -> None:
    """The handler's nursery raises a BaseExceptionGroup holding the KeyboardInterrupt."""

    async def interrupt() -> None:
        raise KeyboardInterrupt

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.sleep_forever)
        nursery.start_soon(interrupt)


@pytest.mark.parametrize(
    ("raising", "expected"),
    [
        (raise_keyboard_interrupt, KeyboardInterrupt),
        (raise_system_exit, SystemExit),
        (raise_in_nursery_task, KeyboardInterrupt),
    ],
)
def test_keyboard_interrupt_or_system_exit_ends_the_runtime_plainly(
    raising: Any, expected: type[BaseException]
) -> None:
    log: list[str] = []
    with pytest.raises(expected) as info:
        run_with_raising_handler(raising, log)
    assert type(info.value) is expected  # plain, never a BaseExceptionGroup
    assert log.count("other") == 3  # other subscriptions are unaffected
    assert [entry for entry in log if entry != "other"] == [
        "handler 0",
        "handler 1",
        "terminate shutdown",  # the ordered shutdown ran
    ]


async def test_keyboard_interrupt_releases_publish_sync_and_ends_the_subscription() -> None:
    async def handler(data: int, topic: str) -> None:
        raise KeyboardInterrupt

    async def body() -> None:
        async with open_runtime() as rt:
            await EventBus.subscribe(rt.event_bus, "a", handler)
            with trio.CancelScope(shield=True), trio.fail_after(1):
                async with trio.open_nursery() as nursery:
                    # The first event is being handled when the handler raises; the second
                    # is dropped with the subscription. Both count as handled.
                    nursery.start_soon(EventBus.publish_sync, rt.event_bus, "a", 0)
                    nursery.start_soon(EventBus.publish_sync, rt.event_bus, "a", 1)
                assert await EventBus.subscription_count(rt.event_bus) == 0
            await trio.sleep_forever()

    with pytest.raises(KeyboardInterrupt):
        await body()


# ---------------------------------------------------------------- other BaseExceptions


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (UserBaseError("mine"), UserBaseError),
        (BaseExceptionGroup("mixed", [ValueError("v"), UserBaseError("x")]), UserBaseError),
    ],
    ids=["user-subclass", "group"],
)
async def test_other_base_exceptions_end_the_runtime_plainly(
    error: BaseException, expected: type[BaseException]
) -> None:
    """A user's own ``BaseException`` subclass is raised to get out, not to report an error:
    like `SystemExit`, it ends the runtime in order and leaves it as itself (not a group)."""
    stopped: list[str] = []

    class Witness(GenServer[None, None, None, None]):
        def init(self) -> None:
            return None

        def terminate(self, reason: Any, state: None) -> None:
            stopped.append("witness")

    def handler(data: int, topic: str) -> None:
        raise error

    async def body() -> None:
        async with open_runtime() as rt:
            await GenServer.start(Witness)
            await EventBus.subscribe(rt.event_bus, "a", handler)
            EventBus.publish(rt.event_bus, "a", 1)
            await trio.sleep_forever()

    with pytest.raises(expected):
        await body()
    assert stopped == ["witness"]  # the ordered shutdown ran


async def test_a_group_of_cancellations_is_not_an_error(
    rt: Runtime, caplog: pytest.LogCaptureFixture, autojump_clock: Any
) -> None:
    """A handler whose nursery is cancelled when the bus stops raises a group of Cancelled."""
    bus = await EventBus.start()

    async def handler(data: int, topic: str) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep_forever)
            nursery.start_soon(trio.sleep_forever)

    await EventBus.subscribe(bus, "a", handler)
    EventBus.publish(bus, "a", 1)
    with caplog.at_level(logging.ERROR, logger="noex_trio"):
        await EventBus.stop(bus)  # the budget runs out: the handler is cancelled
    assert caplog.records == []
    assert bus.exit_reason == "killed"  # the bus overran its shutdown budget: OTP kills it


# ---------------------------------------------------------------- broken __str__ / __repr__


async def test_broken_repr_and_str_are_logged_safely(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    handler = BrokenHandler()
    await EventBus.subscribe(rt.event_bus, "a", handler)
    with caplog.at_level(logging.ERROR, logger="noex_trio"):
        await EventBus.publish_sync(rt.event_bus, "a", 1)
        await EventBus.publish_sync(rt.event_bus, "a", 2)
    assert handler.calls == 2  # still subscribed
    assert len(caplog.records) == 2
    assert re.fullmatch(
        r"EventBus#\d+: handler <BrokenHandler object at 0x[0-9a-f]+; repr\(\) raised "
        r"RuntimeError> of 'a' "
        r"raised on topic 'a'; it stays subscribed",
        caplog.records[0].getMessage(),
    )
    assert "BrokenError: <exception str() failed>" in caplog.text  # the traceback, formatted


# ---------------------------------------------------------------- leaks and contexts


async def test_idle_subscriptions_keep_no_exception_alive(rt: Runtime) -> None:
    for _ in range(100):
        await EventBus.subscribe(rt.event_bus, "a", lambda data, topic: None)
    await EventBus.publish_sync(rt.event_bus, "a", 1)
    await trio.testing.wait_all_tasks_blocked()
    gc.collect()
    assert [o for o in gc.get_objects() if isinstance(o, trio.WouldBlock)] == []


class Republisher(GenServer[None, str, None, None]):
    """Started from a handler; its call publishes synchronously to that handler's topic."""

    async def init(self) -> None:
        return None

    async def handle_call(self, msg: str, state: None) -> tuple[None, None]:
        from noex_trio import current_runtime

        await EventBus.publish_sync(current_runtime().event_bus, msg, "from the process")
        return None, None


async def test_a_process_started_from_a_handler_may_publish_sync_to_it(rt: Runtime) -> None:
    started: list[GenServerRef[str, None, None]] = []
    seen: list[Any] = []

    async def handler(data: Any, topic: str) -> None:
        seen.append(data)
        if data == "start":
            started.append(await GenServer.start(Republisher))

    await EventBus.subscribe(rt.event_bus, "a.*", handler)
    await EventBus.publish_sync(rt.event_bus, "a.start", "start")
    with trio.fail_after(1):
        await started[0].call("a.again")
    assert seen == ["start", "from the process"]
    await started[0].stop()
