"""Processes on two nodes as one system (docs/guides/cluster.md, "Processes across nodes").

Two runtimes joined to one cluster: ``inventory-1`` runs an `Inventory` registered as
``inventory``; ``orders-1`` calls it by ``RemoteName``, gets a `RemoteRef` back, and an
`OrderDesk` there monitors it. Run both with a ``nats-server`` on 127.0.0.1:4222:
``python -m examples.cluster_processes``.
"""

from __future__ import annotations

from typing import Any

import trio

from noex_trio import Down, GenServer, RemoteName, RemoteRef, Supervisor, open_runtime
from noex_trio.cluster import ClusterConfig


# --8<-- [start:inventory]
class Inventory(GenServer[dict[str, int], Any, None, Any]):
    """Stock by item, on node inventory-1."""

    def init(self) -> dict[str, int]:
        return {"apple": 2}

    def handle_call(self, msg: Any, stock: dict[str, int]) -> tuple[Any, dict[str, int]]:
        match msg:
            case ("take", item):
                if stock.get(item, 0) == 0:
                    raise LookupError(f"no {item} left")  # reaches the caller; we crash
                stock[item] -= 1
                return stock[item], stock
            case "whoami":
                return GenServer.self(), stock  # a ref: a RemoteRef on the other node
        raise ValueError(f"unknown request {msg!r}")


async def inventory_node(url: str, started: trio.Event, stop: trio.Event) -> None:
    async with open_runtime(cluster=ClusterConfig(name="inventory-1", servers=url)):
        await Supervisor.start([Inventory.child_spec(name="inventory")], name="stock")
        started.set()
        await stop.wait()
        # --8<-- [end:inventory]


# --8<-- [start:desk]
class OrderDesk(GenServer[list[str], Any, None, Any]):
    """On node orders-1: watches the inventory process on the other node."""

    def init(self, inventory: RemoteRef, lines: list[str], gone: trio.Event) -> list[str]:
        # (monitors are one-shot: this one reports the first exit)
        GenServer.monitor(inventory)
        self.gone = gone
        return lines

    def handle_info(self, msg: Any, lines: list[str]) -> list[str]:
        if isinstance(msg, Down):
            lines.append(f"Down {msg.ref!r}: {msg.reason}")
            self.gone.set()
        return lines


# --8<-- [end:desk]


async def orders_node(url: str, stop_inventory: trio.Event) -> list[str]:
    lines: list[str] = []
    gone = trio.Event()
    # --8<-- [start:orders]
    async with open_runtime(cluster=ClusterConfig(name="orders-1", servers=url)):
        inventory = RemoteName("inventory", "inventory-1")  # OTP's {inventory, 'inventory-1'}
        left = await GenServer.call(inventory, ("take", "apple"))
        lines.append(f"took an apple, {left} left")
        ref = await GenServer.call(inventory, "whoami")
        lines.append(f"{ref!r} on {ref.node.name}")
        await GenServer.start(OrderDesk, ref, lines, gone)
        try:
            await ref.call(("take", "pear"))  # a RemoteRef is used as a local ref
        except LookupError as error:  # the handler's exception, rebuilt here
            lines.append(f"LookupError: {error}")
        await gone.wait()  # Inventory crashed on it (its supervisor restarts it)
        stop_inventory.set()
    # --8<-- [end:orders]
    return lines


async def main(url: str = "nats://127.0.0.1:4222") -> list[str]:
    started, stop = trio.Event(), trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(inventory_node, url, started, stop)
        await started.wait()
        lines = await orders_node(url, stop)
    return lines


if __name__ == "__main__":  # pragma: no cover - by hand, with a nats-server running
    for line in trio.run(main):
        print(line)
