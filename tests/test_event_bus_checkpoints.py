"""Every public async function of the EventBus is a checkpoint on every path (Trio's rule).

Each case runs one call under `trio.testing.assert_checkpoints`: success, early returns and
failures alike. The listener's ``__aenter__`` and ``__anext__`` are included; leaving the block
(``__aexit__``) is not a checkpoint, like releasing a `trio.Lock`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing

from noex_trio import (
    AlreadyRegisteredError,
    EventBus,
    EventBusRef,
    GenServer,
    MailboxFullError,
    NoexError,
    Runtime,
    ServerNotRunningError,
)


class Plain(GenServer[None, Any, Any, None]):
    def init(self) -> None:
        return None


async def check(call: Callable[[], Awaitable[object]], error: type[BaseException] | None) -> None:
    with trio.testing.assert_checkpoints():
        if error is None:
            await call()
        else:
            with pytest.raises(error):
                await call()


async def stopped_bus() -> EventBusRef:
    bus = await EventBus.start()
    await EventBus.stop(bus)
    return bus


async def test_start(rt: Runtime) -> None:
    await check(lambda: EventBus.start(name="events"), None)
    await check(lambda: EventBus.start(name="events"), AlreadyRegisteredError)
    await check(lambda: EventBus.start(name=42), TypeError)  # type: ignore[arg-type]
    await EventBus.stop("events")


async def test_subscribe_count_and_topics(rt: Runtime) -> None:
    bus = rt.event_bus
    gone = await stopped_bus()
    await check(lambda: EventBus.subscribe(bus, "a", print), None)
    await check(lambda: EventBus.subscribe(bus, "a..", print), ValueError)
    await check(lambda: EventBus.subscribe(bus, "a", 42), TypeError)  # type: ignore[arg-type]
    await check(lambda: EventBus.subscribe(gone, "a", print), ServerNotRunningError)
    await check(lambda: EventBus.subscription_count(bus), None)
    await check(lambda: EventBus.subscription_count(gone), ServerNotRunningError)
    await check(lambda: EventBus.topics(bus), None)
    await check(lambda: EventBus.topics("nope"), ServerNotRunningError)


async def test_publish_sync(rt: Runtime) -> None:
    bus = rt.event_bus
    gone = await stopped_bus()
    refused: list[None] = []

    async def handler(data: int, topic: str) -> None:
        if data == 1:
            await check(lambda: EventBus.publish_sync(bus, "a", 2), NoexError)  # self-wait
            refused.append(None)

    await check(lambda: EventBus.publish_sync(bus, "nobody", 1), None)  # no match: early return
    await EventBus.subscribe(bus, "a", handler)
    await check(lambda: EventBus.publish_sync(bus, "a", 1), None)
    assert refused == [None]
    await check(lambda: EventBus.publish_sync(bus, "a.*", 1), ValueError)
    await check(lambda: EventBus.publish_sync(bus, 42, 1), TypeError)  # type: ignore[arg-type]
    await check(lambda: EventBus.publish_sync(gone, "a", 1), ServerNotRunningError)
    await check(lambda: EventBus.publish_sync("nope", "a", 1), ServerNotRunningError)


async def test_stop(rt: Runtime) -> None:
    bus = await EventBus.start()
    plain = await GenServer.start(Plain)
    await check(lambda: EventBus.stop(bus), None)
    await check(lambda: EventBus.stop(bus), None)  # already stopped
    await check(lambda: EventBus.stop("nope"), None)  # unknown name
    await check(lambda: EventBus.stop(plain), TypeError)  # type: ignore[arg-type]
    await check(lambda: EventBus.stop(42), TypeError)  # type: ignore[arg-type]
    await check(lambda: EventBus.stop(""), ValueError)
    await plain.stop()


async def test_listener(rt: Runtime) -> None:
    bus = rt.event_bus
    gone = await stopped_bus()
    listener = EventBus.listen(bus, "a", buffer=1)
    await check(lambda: listener.__anext__(), NoexError)  # not entered
    await check(lambda: EventBus.listen(gone, "a").__aenter__(), ServerNotRunningError)
    await check(lambda: listener.__aenter__(), None)
    await check(lambda: listener.__aenter__(), NoexError)  # entered twice
    EventBus.publish(bus, "a", 1)
    await check(lambda: listener.__anext__(), None)  # an event is waiting
    EventBus.publish(bus, "a", 2)
    EventBus.publish(bus, "a", 3)  # overflows
    await check(lambda: listener.__anext__(), None)
    await check(lambda: listener.__anext__(), MailboxFullError)
    await listener.__aexit__(None, None, None)
    await check(lambda: listener.__anext__(), NoexError)  # after the block

    other = await EventBus.start()
    async with EventBus.listen(other, "a") as events:
        await EventBus.stop(other)
        await check(lambda: events.__anext__(), StopAsyncIteration)
