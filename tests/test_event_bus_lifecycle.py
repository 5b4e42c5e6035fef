"""Tests for the EventBus: listeners (`EventBus.listen`), `is_running`, stopping a bus."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import (
    EventBus,
    EventBusRef,
    EventListener,
    GenServer,
    MailboxFullError,
    NoexError,
    Runtime,
    ServerNotRunningError,
    open_runtime,
)
from noex_trio._process import process_of
from noex_trio.testing import kill

from .conftest import assert_no_cyclic_garbage


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


async def collect(events: EventListener, into: list[Any]) -> None:
    async for _topic, data in events:
        into.append(data)


# ---------------------------------------------------------------- listen


async def test_listen_yields_topic_and_data_in_order(rt: Runtime) -> None:
    bus = rt.event_bus
    async with EventBus.listen(bus, "order.*", buffer=10) as events:
        assert isinstance(events, EventListener)
        assert await EventBus.subscription_count(bus) == 1
        EventBus.publish(bus, "order.placed", 1)
        EventBus.publish(bus, "user.created", 2)
        await EventBus.publish_sync(bus, "order.shipped", 3)  # done once in the buffer
        received = []
        async for topic, data in events:
            received.append((topic, data))
            if len(received) == 2:
                break
    assert received == [("order.placed", 1), ("order.shipped", 3)]
    assert await EventBus.subscription_count(bus) == 0  # unsubscribed on exit


async def test_listen_overflow_keeps_buffered_events_then_raises(rt: Runtime) -> None:
    bus = rt.event_bus
    async with EventBus.listen(bus, "tick", buffer=3) as events:
        for n in range(5):
            EventBus.publish(bus, "tick", n)
        assert events.overflowed
        assert await EventBus.subscription_count(bus) == 0  # unsubscribed at the overflow
        EventBus.publish(bus, "tick", 5)  # not delivered any more
        received: list[Any] = []
        with pytest.raises(
            MailboxFullError,
            match=r"^mailbox of listener 'tick' on EventBus#\d+ is full \(3 messages\)$",
        ) as info:
            await collect(events, received)
    assert received == [0, 1, 2]
    assert info.value.target is events
    assert info.value.size == 3


async def test_listen_unbounded_buffer(rt: Runtime) -> None:
    bus = rt.event_bus
    async with EventBus.listen(bus, "**", buffer=math.inf) as events:
        for n in range(1000):
            EventBus.publish(bus, "a.b", n)
        assert not events.overflowed
        received = [data async for _topic, data in _take(events, 1000)]
    assert received == list(range(1000))


async def _take(events: EventListener, count: int) -> Any:
    for _ in range(count):
        yield await events.__anext__()


async def test_listen_ends_when_the_bus_stops(rt: Runtime) -> None:
    bus = await EventBus.start()
    received = []
    async with EventBus.listen(bus, "a", buffer=5) as events:
        EventBus.publish(bus, "a", 1)
        EventBus.publish(bus, "a", 2)
        await EventBus.stop(bus)
        async for _topic, data in events:
            received.append(data)
    assert received == [1, 2]


async def test_listener_waits_for_events(rt: Runtime) -> None:
    bus = rt.event_bus
    received: list[int] = []

    async def consume(task_status: trio.TaskStatus[None]) -> None:
        async with EventBus.listen(bus, "a") as events:
            task_status.started()
            async for _topic, data in events:
                received.append(data)
                if data == 2:
                    return

    async with trio.open_nursery() as nursery:
        await nursery.start(consume)
        EventBus.publish(bus, "a", 1)
        await settle()
        assert received == [1]
        EventBus.publish(bus, "a", 2)
    assert received == [1, 2]


async def test_listener_misuse(rt: Runtime) -> None:
    listener = EventBus.listen(rt.event_bus, "a")
    assert re.fullmatch(r"<EventListener 'a' buffer=100>", repr(listener))
    async with listener:
        with pytest.raises(NoexError, match=r"^<EventListener 'a' buffer=100> was already entered"):
            await listener.__aenter__()
    with pytest.raises(NoexError, match=r"is used after its `async with` block ended$"):
        await listener.__anext__()


async def test_iterating_without_async_with_is_refused(rt: Runtime) -> None:
    listener = EventBus.listen(rt.event_bus, "a")
    message = (
        r"^<EventListener 'a' buffer=100> is iterated outside its block; "
        r"use `async with EventBus.listen\(\.\.\.\) as events:`, then `async for` over `events`$"
    )
    with trio.fail_after(1), pytest.raises(NoexError, match=message):
        async for _event in listener:
            pass  # pragma: no cover
    with trio.fail_after(1), pytest.raises(NoexError, match=message):
        await listener.__anext__()
    assert await EventBus.subscription_count(rt.event_bus) == 0


async def test_listener_has_no_public_constructor(rt: Runtime) -> None:
    with pytest.raises(
        TypeError,
        match=r"^noex_trio\.EventListener has no public constructor; "
        r"use EventBus\.listen\(bus, pattern, buffer=\.\.\.\)$",
    ):
        EventListener(rt.event_bus, "a", 10)
    assert getattr(EventListener, "__final__", False)  # @typing.final


@pytest.mark.parametrize(
    ("buffer", "error"),
    [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError), ("9", TypeError)],
)
async def test_listen_bad_buffer(rt: Runtime, buffer: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"^expected buffer to be an int >= 1 or math\.inf, got "):
        EventBus.listen(rt.event_bus, "a", buffer=buffer)


# ---------------------------------------------------------------- stopping


async def test_stop_lets_handlers_finish_queued_events(rt: Runtime, autojump_clock: Any) -> None:
    bus = await EventBus.start()
    seen: list[int] = []

    async def slow(data: int, topic: str) -> None:
        await trio.sleep(1.0)
        seen.append(data)

    await EventBus.subscribe(bus, "a", slow)
    for n in range(3):
        EventBus.publish(bus, "a", n)
    start = trio.current_time()
    await EventBus.stop(bus)
    assert seen == [0, 1, 2]
    assert trio.current_time() - start == 3.0
    assert bus.exit_reason == "normal"


async def test_stop_cancels_handlers_after_the_budget(rt: Runtime, autojump_clock: Any) -> None:
    bus = await EventBus.start()
    cancelled: list[bool] = []
    outcome: list[BaseException] = []

    async def stuck(data: int, topic: str) -> None:
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            cancelled.append(True)
            raise

    async def waiter() -> None:
        try:
            await EventBus.publish_sync(bus, "a", 1)
        except ServerNotRunningError as exc:
            outcome.append(exc)

    unsubscribe = await EventBus.subscribe(bus, "a", stuck)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)  # its event is being handled when the bus stops...
        await settle()
        EventBus.publish(bus, "a", 2)  # ...and this one is still queued
        start = trio.current_time()
        await EventBus.stop(bus)
        assert trio.current_time() - start == 5.0  # the bus's shutdown budget
    assert cancelled == [True]
    assert len(outcome) == 1
    # The bus overran its shutdown budget: it was killed.
    assert re.fullmatch(r"EventBus#\d+ is not running \(exit reason: 'killed'\)", str(outcome[0]))
    unsubscribe()  # a no-op now


async def test_default_bus_outlives_every_process(autojump_clock: Any) -> None:
    """Processes may publish from terminate during runtime shutdown: the bus stops last."""
    seen: list[tuple[str, Any]] = []

    class Publisher(GenServer[None, str, str, None]):
        def init(self) -> None:
            return None

        def terminate(self, reason: Any, state: None) -> None:
            EventBus.publish(current_runtime().event_bus, "app.stopping", str(reason))

    from noex_trio import current_runtime

    async with open_runtime() as rt:
        await GenServer.start(Publisher)

        async def handler(data: Any, topic: str) -> None:
            await trio.sleep(1.0)  # still delivered: the bus drains on shutdown
            seen.append((topic, data))

        await EventBus.subscribe(rt.event_bus, "app.*", handler)
    assert seen == [("app.stopping", "shutdown")]
    assert not rt.event_bus.is_running()


async def test_brutally_killed_bus_ends_its_tasks(rt: Runtime) -> None:
    bus = await EventBus.start()
    started = trio.Event()

    async def stuck(data: int, topic: str) -> None:
        started.set()
        await trio.sleep_forever()

    class Owner(GenServer[None, str, str, None]):
        async def init(self) -> None:
            await EventBus.subscribe(bus, "a", stuck)

    async def waiter() -> None:
        with pytest.raises(ServerNotRunningError, match=r"exit reason: 'killed'"):
            await EventBus.publish_sync(bus, "a", 2)

    owner = await GenServer.start(Owner)
    EventBus.publish(bus, "a", 1)
    await started.wait()
    async with trio.open_nursery() as nursery, EventBus.listen(bus, "a") as events:
        nursery.start_soon(waiter)  # its event is queued behind the stuck one
        await settle()
        kill(bus)
        assert await GenServer.wait_exit(bus) == "killed"
        assert [data async for _topic, data in events] == [2]  # buffered before the kill
    assert (
        process_of(owner).exit_hooks == {}
    )  # the owner no longer holds a hook for the dead subscription
    with pytest.raises(ServerNotRunningError):
        EventBus.publish(bus, "a", 2)
    await owner.stop()


async def test_bus_state_is_released_after_stop(rt: Runtime) -> None:
    bus = await EventBus.start()
    await EventBus.subscribe(bus, "a", print)
    server: Any = process_of(bus).behaviour
    assert re.fullmatch(
        r"<subscription 'a' -> <built-in function print>>", repr(*server.subscriptions)
    )
    async with EventBus.listen(bus, "b") as _events:
        await EventBus.stop(bus)
    assert server.subscriptions == {}
    assert server.listeners == {}
    assert len(server.index) == 0


class Subscriber(GenServer[None, str, str, None]):
    async def init(self, bus: EventBusRef) -> None:
        await EventBus.subscribe(bus, "a.*", print)


async def test_a_bus_leaves_no_cyclic_garbage(rt: Runtime) -> None:
    async def use_a_bus() -> None:
        bus = await EventBus.start()
        owner = await GenServer.start(Subscriber, bus)
        unsubscribe = await EventBus.subscribe(bus, "a.**", lambda data, topic: None)
        async with EventBus.listen(bus, "*") as events:
            await EventBus.publish_sync(bus, "a.b", 1)
            assert await events.__anext__() == ("a.b", 1)
        unsubscribe()
        await owner.stop()
        await EventBus.subscribe(bus, "b", lambda data, topic: None)
        await EventBus.stop(bus)

    await assert_no_cyclic_garbage(use_a_bus)


async def test_is_running(rt: Runtime) -> None:
    assert EventBus.is_running(rt.event_bus)
    bus = await EventBus.start(name="events")
    assert EventBus.is_running(bus)
    assert EventBus.is_running("events")
    assert not EventBus.is_running("no-such-bus")
    await EventBus.stop(bus)
    assert not EventBus.is_running(bus)
    assert not EventBus.is_running("events")
    plain = await GenServer.start(Plain, name="plain")
    for target in (plain, "plain", 42):
        with pytest.raises(
            TypeError, match=r"^expected bus to be an EventBusRef or the name of one"
        ):
            EventBus.is_running(target)  # type: ignore[arg-type]
    await plain.stop()


async def test_is_running_is_false_while_stopping(rt: Runtime, autojump_clock: Any) -> None:
    bus = await EventBus.start()
    release = trio.Event()

    async def slow(data: int, topic: str) -> None:
        await release.wait()

    await EventBus.subscribe(bus, "a", slow)
    EventBus.publish(bus, "a", 1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(EventBus.stop, bus)
        await settle()
        assert not EventBus.is_running(bus)  # stopping: publishing is refused
        release.set()


class Plain(GenServer[None, Any, Any, None]):
    def init(self) -> None:
        return None


async def test_stop_refuses_a_process_that_is_not_a_bus(rt: Runtime) -> None:
    ref = await GenServer.start(Plain, name="plain")
    for target in (ref, "plain"):
        with pytest.raises(
            TypeError, match=r"^expected bus to be an EventBusRef or the name of one"
        ):
            await EventBus.stop(target)  # type: ignore[arg-type]
    assert ref.is_running()
    await EventBus.stop("no-such-bus")  # an unknown name: nothing to stop
