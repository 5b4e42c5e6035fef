"""Pub/sub with EventBus: basics, topic patterns, `publish_sync`, an event-driven design."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

import attrs
import trio
import trio.testing

from noex_trio import EventBus, EventBusRef, GenServer, open_runtime


async def basic_usage() -> list[dict[str, str]]:
    seen: list[dict[str, str]] = []
    received = trio.Event()
    # --8<-- [start:basic]
    # Start an event bus (every runtime also has one ready: `rt.event_bus`).
    bus = await EventBus.start()

    def on_user_created(data: dict[str, str], topic: str) -> None:
        print("New user:", data)
        seen.append(data)
        received.set()

    # Subscribe: the handler gets (data, topic); `def` or `async def`.
    unsubscribe = await EventBus.subscribe(bus, "user.created", on_user_created)

    # Publish: sync, fire-and-forget, returns before any handler ran.
    EventBus.publish(bus, "user.created", {"id": "123", "name": "Alice"})
    await received.wait()

    # Clean up.
    unsubscribe()
    await EventBus.stop(bus)
    # --8<-- [end:basic]
    return seen


TOPICS = ["user", "user.created", "user.deleted", "user.profile.updated", "order.deleted"]


async def topic_patterns() -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    bus = await EventBus.start()

    def record(pattern: str) -> Callable[[Any, str], None]:
        seen[pattern] = []
        return lambda data, topic: seen[pattern].append(topic)

    # --8<-- [start:patterns]
    # Exact match: "user.created" only.
    await EventBus.subscribe(bus, "user.created", record("user.created"))
    # `*` is exactly one segment: "user.created", "user.deleted";
    # not "user", not "user.profile.updated".
    await EventBus.subscribe(bus, "user.*", record("user.*"))
    # ...in any position: "user.deleted", "order.deleted".
    await EventBus.subscribe(bus, "*.deleted", record("*.deleted"))
    # `**` is zero or more segments: "user", "user.created", "user.profile.updated".
    await EventBus.subscribe(bus, "user.**", record("user.**"))
    # `*` on its own matches every topic.
    await EventBus.subscribe(bus, "*", record("*"))
    # --8<-- [end:patterns]
    for topic in TOPICS:
        await EventBus.publish_sync(bus, topic, None)
    await EventBus.stop(bus)
    return seen


async def synchronous_publishing(bus: EventBusRef) -> list[int]:
    handled: list[str] = []
    counts: list[int] = []

    async def slow_handler(order: str, topic: str) -> None:
        await trio.sleep(1.0)
        handled.append(order)

    await EventBus.subscribe(bus, "order.placed", slow_handler)
    order = "order-1"
    # --8<-- [start:publish_sync]
    # Fire-and-forget (the default): returns at once.
    EventBus.publish(bus, "order.placed", order)

    # Returns once every matching handler has finished with this event (and, in order,
    # with the events published to it before).
    await EventBus.publish_sync(bus, "order.placed", order)
    # --8<-- [end:publish_sync]
    counts.append(len(handled))  # 2: both events handled
    EventBus.publish(bus, "order.placed", order)
    counts.append(len(handled))  # still 2: publish did not wait
    return counts


# --8<-- [start:architecture]
@attrs.frozen
class UserCreated:
    user_id: str
    email: str
    timestamp: float


@attrs.frozen
class OrderPlaced:
    order_id: str
    user_id: str
    items: tuple[str, ...]


Event = tuple[str, Any]  # (topic, data) as received from the bus


class EmailService(GenServer[list[str], Literal["sent"], Event, list[str]]):
    """Sends a welcome mail for ``user.created`` and a confirmation for ``order.placed``."""

    async def init(self, bus: EventBusRef) -> list[str]:
        me = GenServer.self()
        # Subscriptions made in a process belong to it: they end when it exits. The handler
        # runs in the bus; it forwards the event into this process's mailbox.
        await EventBus.subscribe(bus, "user.created", lambda event, topic: me.cast((topic, event)))
        await EventBus.subscribe(bus, "order.*", lambda event, topic: me.cast((topic, event)))
        return []  # the mails sent

    def handle_cast(self, msg: Event, state: list[str]) -> list[str]:
        match msg:
            case ("user.created", UserCreated(email=email)):
                return [*state, f"welcome mail to {email}"]
            case ("order.placed", OrderPlaced(order_id=order_id)):
                return [*state, f"confirmation for {order_id}"]
        return state  # other order.* events: nothing to send

    def handle_call(self, msg: Literal["sent"], state: list[str]) -> tuple[list[str], list[str]]:
        return state, state


class Analytics(GenServer[list[str], Literal["tracked"], str, list[str]]):
    """Tracks every event on the bus."""

    async def init(self, bus: EventBusRef) -> list[str]:
        me = GenServer.self()
        await EventBus.subscribe(bus, "*", lambda event, topic: me.cast(topic))
        return []

    def handle_cast(self, msg: str, state: list[str]) -> list[str]:
        return [*state, msg]

    def handle_call(self, msg: Literal["tracked"], state: list[str]) -> tuple[list[str], list[str]]:
        return state, state


@attrs.frozen
class CreateUser:
    email: str


class UserService(GenServer[int, CreateUser, None, str]):
    """Publishes ``user.created`` for every user it creates."""

    def init(self, bus: EventBusRef) -> int:
        self.bus = bus
        return 0  # users created so far

    def handle_call(self, msg: CreateUser, state: int) -> tuple[str, int]:
        user_id = f"user-{state + 1}"
        # ... save the user ...
        EventBus.publish(
            self.bus, "user.created", UserCreated(user_id, msg.email, trio.current_time())
        )
        return user_id, state + 1


# --8<-- [end:architecture]


@attrs.frozen
class EventBusResult:
    basic: list[dict[str, str]]
    patterns: dict[str, list[str]]
    sync_counts: list[int]
    emails: list[str]
    tracked: list[str]


async def main() -> EventBusResult:
    async with open_runtime() as rt:
        basic = await basic_usage()
        patterns = await topic_patterns()
        sync_counts = await synchronous_publishing(rt.event_bus)

        # --8<-- [start:wiring]
        # A central bus, the subscribers, and a service publishing on it.
        event_bus = await EventBus.start(name="event-bus")
        email = await GenServer.start(EmailService, event_bus)
        analytics = await GenServer.start(Analytics, event_bus)
        users = await GenServer.start(UserService, event_bus)

        user_id = await users.call(CreateUser("ada@example.com"))
        EventBus.publish("event-bus", "order.placed", OrderPlaced("o-1", user_id, ("book",)))
        EventBus.publish("event-bus", "order.shipped", {"order_id": "o-1"})
        # --8<-- [end:wiring]
        await trio.testing.wait_all_tasks_blocked()  # let the events settle (for this demo)
        emails = await email.call("sent")
        tracked = await analytics.call("tracked")

    result = EventBusResult(basic, patterns, sync_counts, emails, tracked)
    for pattern, topics in patterns.items():
        print(f"{pattern:>14} matched {topics}")
    print(f"emails: {emails}\ntracked: {tracked}")
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    trio.run(main)
