"""Events in a process's mailbox (docs/guides/event-bus.md, "Events in the mailbox").

An order tracker subscribes *itself* to ``order.*`` and ``payment.*`` with
``EventBus.subscribe_self``: every event arrives in its ``handle_info`` as a ``BusEvent``, in
publish order across both subscriptions and with the calls made after the publish.

Run it with ``python -m examples.event_mailbox``.
"""

from __future__ import annotations

import attrs
import trio

from noex_trio import BusEvent, EventBus, EventBusRef, GenServer, open_runtime


# --8<-- [start:tracker]
@attrs.frozen
class Placed:
    order_id: int


@attrs.frozen
class Paid:
    order_id: int


@attrs.frozen
class Shipped:
    order_id: int


Steps = dict[int, list[str]]


class OrderTracker(GenServer[Steps, int, None, list[str]]):
    """Records what happened to each order; call with an order id for its steps."""

    async def init(self, bus: EventBusRef) -> Steps:
        await EventBus.subscribe_self(bus, "order.*")
        await EventBus.subscribe_self(bus, "payment.*")
        return {}

    def handle_info(self, msg: object, steps: Steps) -> Steps:
        match msg:
            case BusEvent(data=Placed(order_id) | Paid(order_id) | Shipped(order_id) as data):
                return {**steps, order_id: [*steps.get(order_id, []), type(data).__name__]}
        return steps  # other messages: ignored

    def handle_call(self, order_id: int, steps: Steps) -> tuple[list[str], Steps]:
        return steps.get(order_id, []), steps


# --8<-- [end:tracker]


async def main() -> list[str]:
    # --8<-- [start:run]
    async with open_runtime() as rt:
        bus = rt.event_bus
        tracker = await GenServer.start(OrderTracker, bus)
        EventBus.publish(bus, "order.placed", Placed(1))
        EventBus.publish(bus, "payment.received", Paid(1))
        EventBus.publish(bus, "order.shipped", Shipped(1))
        # The three events are in the tracker's mailbox before this call, in publish order,
        # although they came through two subscriptions: no publish_sync needed.
        steps = await tracker.call(1)
    # --8<-- [end:run]
    print("order 1:", " -> ".join(steps))
    return steps


if __name__ == "__main__":
    trio.run(main)
