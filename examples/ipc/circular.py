"""Avoiding circular dependencies: A calls B while B calls A deadlocks; events don't."""

from __future__ import annotations

import logging
from typing import Literal

import attrs
import trio

from noex_trio import (
    CallTimeoutError,
    EventBus,
    EventBusRef,
    GenServer,
    Registry,
    open_runtime,
)

# --------------------------------------------------------------------------- the bad way


class Orders(GenServer[None, str, None, str]):
    async def handle_call(self, msg: str, state: None) -> tuple[str, None]:
        if msg == "place":
            # Orders -> Inventory ...
            reply = await Registry.lookup("inventory", Inventory).call("reserve", timeout=2.0)
            return f"placed ({reply})", state
        return "order is valid", state

    def init(self) -> None:
        return None


class Inventory(GenServer[None, str, None, str]):
    async def handle_call(self, msg: str, state: None) -> tuple[str, None]:
        # ... -> Orders, which is busy waiting for us: nobody answers until a timeout.
        valid = await Registry.lookup("orders", Orders).call("validate", timeout=1.0)
        return f"reserved, {valid}", state

    def init(self) -> None:
        return None


# --------------------------------------------------------------------------- the good way


@attrs.frozen
class OrderPlaced:
    order_id: str


@attrs.frozen
class StockReserved:
    order_id: str


# --8<-- [start:events]
class OrderBook(GenServer[dict[str, str], Literal["orders"], str | StockReserved, dict[str, str]]):
    """Publishes ``order.placed`` and ``order.confirmed``; hears ``stock.reserved``."""

    async def init(self, bus: EventBusRef) -> dict[str, str]:
        self.bus, me = bus, GenServer.self()
        await EventBus.subscribe(bus, "stock.reserved", lambda event, topic: me.cast(event))
        return {}

    def handle_cast(self, msg: str | StockReserved, state: dict[str, str]) -> dict[str, str]:
        if isinstance(msg, StockReserved):
            EventBus.publish(self.bus, "order.confirmed", msg.order_id)
            return {**state, msg.order_id: "confirmed"}
        EventBus.publish(self.bus, "order.placed", OrderPlaced(msg))  # no call to the stock
        return {**state, msg: "placed"}

    def handle_call(
        self, msg: Literal["orders"], state: dict[str, str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        return state, state


class Stock(GenServer[int, None, OrderPlaced, None]):
    """Reserves stock on ``order.placed`` and publishes ``stock.reserved``."""

    async def init(self, bus: EventBusRef, units: int) -> int:
        self.bus, me = bus, GenServer.self()
        await EventBus.subscribe(bus, "order.placed", lambda event, topic: me.cast(event))
        return units

    def handle_cast(self, msg: OrderPlaced, state: int) -> int:
        EventBus.publish(self.bus, "stock.reserved", StockReserved(msg.order_id))  # no call back
        return state - 1


# --8<-- [end:events]


@attrs.frozen
class CircularResult:
    cycle_error: str
    cycle_took: float
    orders: dict[str, str]


async def main() -> CircularResult:
    async with open_runtime() as rt:
        # The cycle: Orders waits for Inventory, Inventory waits for Orders.
        await GenServer.start(Orders, name="orders")
        await GenServer.start(Inventory, name="inventory")
        started = trio.current_time()
        try:
            await GenServer.call("orders", "place")
        except CallTimeoutError as error:  # Inventory's call gave up first, and crashed both
            cycle_error = str(error)
        cycle_took = trio.current_time() - started

        # Events instead: each side publishes, the other subscribes.
        confirmed = trio.Event()
        await EventBus.subscribe(rt.event_bus, "order.confirmed", lambda e, t: confirmed.set())
        book = await GenServer.start(OrderBook, rt.event_bus)
        await GenServer.start(Stock, rt.event_bus, 10)
        book.cast("o-1")
        with trio.fail_after(1):
            await confirmed.wait()
        orders = await book.call("orders")

    result = CircularResult(cycle_error, cycle_took, orders)
    print(result)
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    trio.run(main)
