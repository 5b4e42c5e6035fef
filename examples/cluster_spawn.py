"""Starting a process on another node (docs/guides/cluster.md, "Starting processes on other
nodes"): node ``workers-1`` offers a `Counter` behaviour by name; node ``api-1`` starts one
there and uses it. Run with a ``nats-server`` on 127.0.0.1:4222:
``python -m examples.cluster_spawn``.
"""

from __future__ import annotations

from typing import Any

import trio

from noex_trio import GenServer, open_runtime
from noex_trio.cluster import ClusterConfig


class Counter(GenServer[int, str, int, int]):
    def init(self, start: int) -> int:
        return start

    def handle_call(self, msg: str, count: int) -> tuple[int, int]:
        return count, count

    def handle_cast(self, msg: int, count: int) -> int:
        return count + msg


async def workers_node(url: str, started: trio.Event, stop: trio.Event) -> None:
    # --8<-- [start:offer]
    config = ClusterConfig(name="workers-1", servers=url, behaviours={"counter": Counter})
    async with open_runtime(cluster=config):  # other nodes may start a Counter here
        started.set()
        await stop.wait()
    # --8<-- [end:offer]


async def api_node(url: str) -> list[str]:
    lines: list[str] = []
    # --8<-- [start:start_on]
    async with open_runtime(cluster=ClusterConfig(name="api-1", servers=url)):
        counter: Any = await GenServer.start_on("workers-1", "counter", 10, name="hits")
        counter.cast(5)
        lines.append(f"{counter!r}: {await counter.call('value')}")
    # --8<-- [end:start_on]
    return lines


async def main(url: str = "nats://127.0.0.1:4222") -> list[str]:
    started, stop = trio.Event(), trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(workers_node, url, started, stop)
        await started.wait()
        lines = await api_node(url)
        stop.set()
    return lines


if __name__ == "__main__":  # pragma: no cover - by hand, with a nats-server running
    for line in trio.run(main):
        print(line)
