"""Pattern 1, service mesh: every service registers a name, any service looks up any other."""

from __future__ import annotations

import logging

import attrs
import trio

from examples.ipc.direct import GetUser, User, UserService
from noex_trio import GenServer, Registry, open_runtime


@attrs.frozen
class CheckStock:
    product_id: str


class InventoryService(GenServer[dict[str, int], CheckStock, None, int]):
    def init(self, stock: dict[str, int]) -> dict[str, int]:
        return stock

    def handle_call(self, msg: CheckStock, state: dict[str, int]) -> tuple[int, dict[str, int]]:
        return state.get(msg.product_id, 0), state


@attrs.frozen
class PlaceOrder:
    user_id: str
    product_id: str


@attrs.frozen
class OrderPlaced:
    user: User
    product_id: str


@attrs.frozen
class OrderRefused:
    reason: str


class OrderService(GenServer[list[OrderPlaced], PlaceOrder, None, OrderPlaced | OrderRefused]):
    def init(self) -> list[OrderPlaced]:
        return []

    # --8<-- [start:handler]
    async def handle_call(
        self, msg: PlaceOrder, state: list[OrderPlaced]
    ) -> tuple[OrderPlaced | OrderRefused, list[OrderPlaced]]:
        # Any service can look up another by its well-known name.
        inventory = Registry.lookup("inventory-service", InventoryService)
        available = await GenServer.call(inventory, CheckStock(msg.product_id))
        if available == 0:
            return OrderRefused(f"{msg.product_id} is out of stock"), state
        user = await Registry.lookup("user-service", UserService).call(GetUser(msg.user_id))
        if user is None:
            return OrderRefused(f"unknown user {msg.user_id}"), state
        order = OrderPlaced(user, msg.product_id)
        return order, [*state, order]

    # --8<-- [end:handler]


async def main() -> list[OrderPlaced | OrderRefused]:
    async with open_runtime():
        user_service = await GenServer.start(UserService, User("u1", "Ada"))
        order_service = await GenServer.start(OrderService)
        inventory_service = await GenServer.start(InventoryService, {"p1": 5, "p2": 0})

        # --8<-- [start:register]
        # All services register themselves.
        Registry.register("user-service", user_service)
        Registry.register("order-service", order_service)
        Registry.register("inventory-service", inventory_service)
        # --8<-- [end:register]

        orders = Registry.lookup("order-service", OrderService)
        results = [
            await orders.call(PlaceOrder("u1", "p1")),
            await orders.call(PlaceOrder("u1", "p2")),
            await orders.call(PlaceOrder("u9", "p1")),
        ]
    for result in results:
        print(result)
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # show crash reports (logger "noex_trio")
    trio.run(main)
