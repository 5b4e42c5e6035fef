"""A cluster-wide EventBus (docs/guides/cluster.md, "A cluster-wide EventBus").

Two runtimes joined to one cluster each start the cluster bus ``orders``. On ``warehouse-1``,
a `Shipping` process subscribes itself to ``order.*`` and publishes ``shipped.<region>`` for
each order; on ``shop-1``, orders are published and a handler gets the ``shipped.**`` events.
Run with a ``nats-server`` on 127.0.0.1:4222: ``python -m examples.cluster_bus``.
"""

from __future__ import annotations

from typing import Any

import trio

from noex_trio import BusEvent, EventBus, GenServer, open_runtime
from noex_trio.cluster import ClusterConfig


# --8<-- [start:warehouse]
class Shipping(GenServer[int, Any, None, Any]):
    """On warehouse-1: ships the orders placed on any node."""

    async def init(self) -> int:
        await EventBus.subscribe_self("orders", "order.*")  # BusEvents in handle_info
        return 0

    def handle_info(self, msg: Any, shipped: int) -> int:
        if isinstance(msg, BusEvent) and msg.topic == "order.placed":
            order = msg.data
            EventBus.publish("orders", f"shipped.{order['region']}", order["id"])
            return shipped + 1
        return shipped


async def warehouse_node(url: str, started: trio.Event, stop: trio.Event) -> None:
    async with open_runtime(cluster=ClusterConfig(name="warehouse-1", servers=url)):
        await EventBus.start("orders", cluster=True)  # the bus "orders" of every node
        await GenServer.start(Shipping)
        started.set()
        await stop.wait()
        # --8<-- [end:warehouse]


async def shop_node(url: str, stop_warehouse: trio.Event) -> list[str]:
    lines: list[str] = []
    # --8<-- [start:shop]
    async with open_runtime(cluster=ClusterConfig(name="shop-1", servers=url)):
        orders = await EventBus.start("orders", cluster=True)
        done = trio.Event()

        def shipped(order_id: int, topic: str) -> None:
            lines.append(f"{topic}: order {order_id}")
            if order_id == 2:
                done.set()

        await EventBus.subscribe(orders, "shipped.**", shipped)
        EventBus.publish(orders, "order.placed", {"id": 1, "region": "eu"})  # sync, as ever
        EventBus.publish(orders, "order.placed", {"id": 2, "region": "us"})
        await done.wait()
        stats = EventBus.statistics(orders)
        lines.append(f"sent {stats.cluster_sent}, received {stats.cluster_received}")
        stop_warehouse.set()
    # --8<-- [end:shop]
    return lines


async def main(url: str = "nats://127.0.0.1:4222") -> list[str]:
    started, stop = trio.Event(), trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(warehouse_node, url, started, stop)
        await started.wait()
        lines = await shop_node(url, stop)
    return lines


if __name__ == "__main__":  # pragma: no cover - by hand, with a nats-server running
    for line in trio.run(main):
        print(line)
