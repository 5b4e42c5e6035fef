"""Nodes of a cluster on NATS: joining, watching the other nodes, requests between nodes, the
codec, and what a node sees when another one disappears.

Each function takes the URL of a running ``nats-server`` and returns the lines it would print.
``tests/test_examples_cluster.py`` runs them against a real server (the ``nats_server``
fixture); ``docs/guides/cluster.md`` walks through them. Run it by hand with a server on the
default port: ``nats-server & python -m examples.cluster``.
"""

from __future__ import annotations

import ssl

import attrs
import trio

from noex_trio import cluster


def make_config(url: str, name: str) -> cluster.ClusterConfig:
    # --8<-- [start:config]
    config = cluster.ClusterConfig(
        name=name,  # unique in the cluster
        servers=url,  # one URL or a list: the node connects out, listens on nothing
        cluster="shop",  # nodes of other clusters on the same NATS never meet these
        heartbeat_interval=0.2,  # a heartbeat every 200 ms...
        failure_timeout=0.8,  # ...and a node silent for 800 ms is down
    )
    # --8<-- [end:config]
    return config


def secured_config(url: str, context: ssl.SSLContext) -> cluster.ClusterConfig:
    # --8<-- [start:secured]
    return cluster.ClusterConfig(
        name="orders-1",
        servers=url,
        user="orders",  # or token=..., or nkey_seed="SU..."
        password="s3cret",
        tls=context,  # an ssl.SSLContext that trusts the server's certificate
    )
    # --8<-- [end:secured]


async def membership(url: str) -> list[str]:
    lines: list[str] = []
    # --8<-- [start:join]
    async with cluster.join(make_config(url, "orders-1")) as node:
        lines.append(f"joined as {node.name} ({node.status})")
        async with node.watch() as events:
            async with cluster.join(make_config(url, "billing-1")) as other:
                lines.append(f"billing-1 sees {sorted(m.name for m in other.members())}")
                event = await events.receive()
                lines.append(f"{type(event).__name__} {event.node.name}")
            down = await events.receive()  # billing-1 left: it said goodbye
            assert isinstance(down, cluster.NodeDown)
            lines.append(f"{type(down).__name__} {down.node.name} ({down.detail})")
    # --8<-- [end:join]
    return lines


# --8<-- [start:serve]
async def price(request: cluster.Request) -> int:
    """A handler: called with the request; its return value is the reply."""
    item: str
    quantity: int
    item, quantity = request.payload
    if quantity <= 0:
        raise ValueError(f"bad quantity {quantity}")  # reaches the caller as itself
    return {"tea": 3, "cake": 5}[item] * quantity


# --8<-- [end:serve]


async def requests(url: str) -> list[str]:
    lines: list[str] = []
    async with (
        cluster.join(make_config(url, "billing-1")) as billing,
        cluster.join(make_config(url, "orders-1")) as orders,
    ):
        # --8<-- [start:request]
        billing.serve("price", price)
        total = await orders.request("billing-1", "price", ("tea", 2), timeout=1.0)
        lines.append(f"price: {total}")
        try:
            await orders.request("billing-1", "price", ("tea", 0), timeout=1.0)
        except ValueError as exc:
            lines.append(f"ValueError: {exc.args[0]}")
        try:
            await orders.request("stock-1", "count", "tea", timeout=1.0)
        except cluster.NoConnectionError as exc:
            lines.append(f"{exc} -> {exc.reason}")
        # --8<-- [end:request]
    return lines


# --8<-- [start:codec]
@attrs.frozen
class PlaceOrder:
    item: str
    quantity: int


codec = cluster.Codec()
codec.register(PlaceOrder)  # rebuilt on the other side only because it is registered here


# --8<-- [end:codec]


def encoding() -> list[str]:
    lines: list[str] = []
    # --8<-- [start:encode]
    data = codec.encode(PlaceOrder("tea", 2))
    lines.append(f"{codec.decode(data)!r}")
    try:
        cluster.Codec().decode(data)  # a codec that does not know PlaceOrder
    except cluster.CodecError as exc:
        lines.append(f"CodecError: {exc}")
    # --8<-- [end:encode]
    return lines


async def detection(url: str, joined: trio.Event, seen: trio.Event) -> list[str]:
    """Watch for billing-1: `joined` is set once this node has joined, `seen` once billing-1
    is up (the test then kills billing-1, a node running in another process)."""
    lines: list[str] = []
    async with cluster.join(make_config(url, "orders-1")) as node, node.watch() as events:
        joined.set()
        # --8<-- [start:detect]
        async for event in events:
            if isinstance(event, cluster.NodeUp):
                lines.append(f"{event.node.name} up")
                seen.set()  # (the test kills it now)
            else:
                lines.append(f"{event.node.name} down: {event.detail}, {event.reason}")
                break
        # --8<-- [end:detect]
    return lines


async def main(url: str = "nats://127.0.0.1:4222") -> None:  # pragma: no cover - by hand
    for line in await membership(url) + await requests(url) + encoding():
        print(line)


if __name__ == "__main__":  # pragma: no cover
    trio.run(main)
