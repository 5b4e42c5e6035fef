"""Pattern 2, event sourcing: every state change is published as an event; others react."""

from __future__ import annotations

import logging
from typing import Literal

import attrs
import trio
import trio.testing

from noex_trio import EventBus, EventBusRef, GenServer, open_runtime


@attrs.frozen
class PlaceOrder:
    order_id: str
    items: tuple[str, ...]


@attrs.frozen
class ShipOrder:
    order_id: str


@attrs.frozen
class CompleteOrder:
    order_id: str


OrderCommand = PlaceOrder | ShipOrder | CompleteOrder
Status = Literal["placed", "shipped", "completed"]


@attrs.frozen
class OrderEvent:
    order_id: str
    status: Status
    items: tuple[str, ...] = ()


class OrderService(
    GenServer[dict[str, Status], Literal["statuses"], OrderCommand, dict[str, Status]]
):
    """Applies commands and publishes each change as ``order.<status>``."""

    def init(self, bus: EventBusRef) -> dict[str, Status]:
        self.bus = bus
        return {}

    def handle_cast(self, msg: OrderCommand, state: dict[str, Status]) -> dict[str, Status]:
        match msg:
            case PlaceOrder(order_id, items):
                event = OrderEvent(order_id, "placed", items)
            case ShipOrder(order_id):
                event = OrderEvent(order_id, "shipped")
            case CompleteOrder(order_id):
                event = OrderEvent(order_id, "completed")
        EventBus.publish(self.bus, f"order.{event.status}", event)
        return {**state, event.order_id: event.status}

    def handle_call(
        self, msg: Literal["statuses"], state: dict[str, Status]
    ) -> tuple[dict[str, Status], dict[str, Status]]:
        return dict(state), state


@attrs.define
class Projections:
    """What the reacting services build from the events."""

    log: list[OrderEvent] = attrs.Factory(list)
    orders: dict[str, Status] = attrs.Factory(dict)
    notifications: list[str] = attrs.Factory(list)
    shipments: list[str] = attrs.Factory(list)

    def append_to_log(self, event: OrderEvent, topic: str) -> None:
        self.log.append(event)

    def update_order_projection(self, event: OrderEvent, topic: str) -> None:
        self.orders[event.order_id] = event.status

    def send_order_notification(self, event: OrderEvent, topic: str) -> None:
        self.notifications.append(f"order {event.order_id} placed: {', '.join(event.items)}")

    def update_shipment_tracking(self, event: OrderEvent, topic: str) -> None:
        self.shipments.append(event.order_id)


def replay(log: list[OrderEvent]) -> dict[str, Status]:
    """Rebuild the state from the log alone: the point of event sourcing."""
    state: dict[str, Status] = {}
    for event in log:
        state[event.order_id] = event.status
    return state


@attrs.frozen
class EventSourcingResult:
    projections: Projections
    service_state: dict[str, Status]
    replayed: dict[str, Status]


async def main() -> EventSourcingResult:
    projections = Projections()
    async with open_runtime():
        order_id = "o-1"
        # --8<-- [start:event_sourcing]
        event_bus = await EventBus.start(name="events")
        order_service = await GenServer.start(OrderService, event_bus)

        # Other services react to the events.
        await EventBus.subscribe(event_bus, "order.*", projections.update_order_projection)
        await EventBus.subscribe(event_bus, "order.placed", projections.send_order_notification)
        await EventBus.subscribe(event_bus, "order.shipped", projections.update_shipment_tracking)
        await EventBus.subscribe(event_bus, "order.*", projections.append_to_log)

        # The order service publishes every change.
        GenServer.cast(order_service, PlaceOrder(order_id, ("book", "pen")))  # -> order.placed
        GenServer.cast(order_service, ShipOrder(order_id))  # -> order.shipped
        GenServer.cast(order_service, CompleteOrder(order_id))  # -> order.completed
        # --8<-- [end:event_sourcing]
        GenServer.cast(order_service, PlaceOrder("o-2", ("lamp",)))
        service_state = await order_service.call("statuses")  # after the four casts
        await trio.testing.wait_all_tasks_blocked()  # let the handlers catch up (for this demo)

    result = EventSourcingResult(projections, service_state, replay(projections.log))
    print(result)
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    trio.run(main)
