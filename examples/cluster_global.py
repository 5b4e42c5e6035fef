"""A name for the whole cluster (docs/guides/cluster.md, "Names across the cluster"): a
`Leader` registers itself under ``"leader"`` with `GlobalRegistry`; any node finds it and
calls it. Needs a ``nats-server`` with JetStream (``nats-server -js``) on 127.0.0.1:4222:
``python -m examples.cluster_global``.
"""

from __future__ import annotations

from typing import Any

import trio

from noex_trio import GenServer, GlobalRegistry, InitializationError, open_runtime
from noex_trio.cluster import ClusterConfig


# --8<-- [start:leader]
class Leader(GenServer[str, str, None, str]):
    """One per cluster: registered globally in `init`; a second one fails to start."""

    async def init(self, node: str) -> str:
        await GlobalRegistry.register("leader")  # atomic across the cluster
        return node

    def handle_call(self, msg: str, node: str) -> tuple[str, str]:
        return f"{msg}: the leader runs on {node}", node


# --8<-- [end:leader]


async def node(url: str, name: str, lines: list[str], ready: trio.Event, done: trio.Event) -> None:
    async with open_runtime(cluster=ClusterConfig(name=name, servers=url)):
        try:
            await GenServer.start(Leader, name)
            lines.append(f"{name}: started the leader")
        except InitializationError as error:  # caused by AlreadyRegisteredError in init
            lines.append(f"{name}: {error.__cause__}")
        # --8<-- [start:find]
        leader: Any = await GlobalRegistry.whereis("leader")  # from any node
        lines.append(f"{name}: {await GenServer.call(leader, 'who leads?')}")
        # --8<-- [end:find]
        ready.set()
        await done.wait()


async def main(url: str = "nats://127.0.0.1:4222") -> list[str]:
    lines: list[str] = []
    done = trio.Event()
    async with trio.open_nursery() as nursery:
        for name in ("n1", "n2"):  # one after the other: a stable output
            ready = trio.Event()
            nursery.start_soon(node, url, name, lines, ready, done)
            await ready.wait()
        done.set()
    return lines


if __name__ == "__main__":  # pragma: no cover - by hand, with a nats-server -js running
    for line in trio.run(main):
        print(line)
