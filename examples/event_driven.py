"""Event-driven services on an EventBus (the example of docs/guides/event-bus.md).

A user service and an order service publish what happened; nobody calls them back:

- the email service subscribes to ``user.created`` and ``order.*`` (it welcomes new users and
  confirms placed orders), and hands each event to its own process with a cast;
- analytics consumes everything (``"*"``) as a Trio async iterator with ``EventBus.listen``.

Run it with ``python -m examples.event_driven``.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio

from noex_trio import EventBus, EventBusRef, GenServer, GenServerRef, open_runtime


# --8<-- [start:events]
@attrs.frozen
class UserCreated:
    user_id: int
    email: str


@attrs.frozen
class OrderPlaced:
    order_id: int
    user_id: int
    items: tuple[str, ...]


@attrs.frozen
class OrderShipped:
    order_id: int


# --8<-- [end:events]


@attrs.frozen
class Report:
    """What the run did (returned by `main` so the test suite can check it)."""

    emails: list[str]
    tracked: list[str]


# --8<-- [start:publishers]
class UserService(GenServer[int, str, None, int]):
    """Call with an email address: creates the user, publishes ``user.created``."""

    def init(self, bus: EventBusRef) -> int:
        self.bus = bus
        return 0

    def handle_call(self, email: str, last_id: int) -> tuple[int, int]:
        user_id = last_id + 1
        EventBus.publish(self.bus, "user.created", UserCreated(user_id, email))
        return user_id, user_id


@attrs.frozen
class Place:
    user_id: int
    items: tuple[str, ...]


@attrs.frozen
class Ship:
    order_id: int


class OrderService(GenServer[int, Place | Ship, None, int]):
    """Call `Place` to place an order (returns its id), `Ship` to ship it; both publish."""

    def init(self, bus: EventBusRef) -> int:
        self.bus = bus
        return 0

    def handle_call(self, msg: Place | Ship, last_id: int) -> tuple[int, int]:
        if isinstance(msg, Ship):
            EventBus.publish(self.bus, "order.shipped", OrderShipped(msg.order_id))
            return msg.order_id, last_id
        order_id = last_id + 1
        EventBus.publish(self.bus, "order.placed", OrderPlaced(order_id, msg.user_id, msg.items))
        return order_id, order_id


# --8<-- [end:publishers]


# --8<-- [start:email]
class EmailService(GenServer[list[str], str, str, list[str]]):
    """Subscribes in ``init`` (the subscriptions belong to it); call ``"sent"`` for its outbox."""

    async def init(self, bus: EventBusRef) -> list[str]:
        me = GenServer.self()

        def welcome(event: UserCreated, topic: str) -> None:
            GenServer.cast(me, f"to {event.email}: welcome!")

        def confirm(event: Any, topic: str) -> None:
            if topic == "order.placed":  # "order.*" also brings order.shipped
                GenServer.cast(me, f"to user {event.user_id}: order {event.order_id} confirmed")

        await EventBus.subscribe(bus, "user.created", welcome)
        await EventBus.subscribe(bus, "order.*", confirm)
        return []

    def handle_call(self, msg: str, outbox: list[str]) -> tuple[list[str], list[str]]:
        return outbox, outbox

    def handle_cast(self, email: str, outbox: list[str]) -> list[str]:
        return [*outbox, email]  # a real service would send it here


# --8<-- [end:email]


# --8<-- [start:analytics]
async def analytics(
    bus: EventBusRef, tracked: list[str], task_status: trio.TaskStatus[None]
) -> None:
    """Track every topic until ``app.stopping``."""
    async with EventBus.listen(bus, "*", buffer=1000) as events:
        task_status.started()
        async for topic, _data in events:
            tracked.append(topic)
            if topic == "app.stopping":
                return


# --8<-- [end:analytics]


async def main() -> Report:
    tracked: list[str] = []
    # --8<-- [start:run]
    async with open_runtime():
        bus = await EventBus.start(name="event-bus")
        emails: GenServerRef[str, str, list[str]] = await GenServer.start(EmailService, bus)
        users = await GenServer.start(UserService, bus)
        orders = await GenServer.start(OrderService, bus)
        async with trio.open_nursery() as nursery:
            await nursery.start(analytics, bus, tracked)

            alice = await users.call("alice@example.com")
            order = await orders.call(Place(alice, ("book", "pen")))
            await orders.call(Ship(order))

            # Wait until every handler has seen everything published so far (order per
            # subscriber), then ask the email service (its casts were queued before this call).
            await EventBus.publish_sync(bus, "app.stopping", None)
            sent = await emails.call("sent")
    # --8<-- [end:run]
    for line in sent:
        print("email", line)
    print("tracked", tracked)
    return Report(emails=sent, tracked=tracked)


if __name__ == "__main__":
    trio.run(main)
