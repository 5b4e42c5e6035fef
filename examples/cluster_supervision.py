"""A supervisor whose child runs on other nodes (docs/guides/cluster.md, "Supervision across
nodes"): nodes ``worker-1`` and ``worker-2`` offer a `Counter`; node ``boss`` supervises one,
placed on ``worker-1`` first; when ``worker-1`` goes away, the child is restarted on
``worker-2``. Run with a ``nats-server`` on 127.0.0.1:4222:
``python -m examples.cluster_supervision``.
"""

from __future__ import annotations

from typing import Any

import trio

from examples.cluster_spawn import Counter
from noex_trio import Placement, RemoteChild, Restarted, Supervisor, open_runtime
from noex_trio.cluster import ClusterConfig


async def worker_node(url: str, name: str, started: trio.Event, stop: trio.Event) -> None:
    config = ClusterConfig(name=name, servers=url, behaviours={"counter": Counter})
    async with open_runtime(cluster=config):
        started.set()
        await stop.wait()


async def boss_node(url: str, stop_worker_1: trio.Event) -> list[str]:
    lines: list[str] = []
    restarted = trio.Event()
    async with open_runtime(cluster=ClusterConfig(name="boss", servers=url)) as rt:
        rt.on_lifecycle_event(lambda event: isinstance(event, Restarted) and restarted.set())
        # --8<-- [start:supervise]
        placement = Placement(["worker-1", "worker-2"])  # the first one up, in this order
        spec = RemoteChild.child_spec("counter", 0, id="hits", placement=placement)
        sup = await Supervisor.start([spec])
        hits: Any = Supervisor.get_child(sup, "hits").ref  # the child's local stand-in
        hits.cast(3)  # calls and casts go through to the child
        _, node = await RemoteChild.which(hits)
        lines.append(f"hits on {node}: {await hits.call('value')}")
        # --8<-- [end:supervise]
        stop_worker_1.set()  # worker-1 shuts down: its processes stop
        await restarted.wait()
        # --8<-- [start:moved]
        hits = Supervisor.get_child(sup, "hits").ref
        _, node = await RemoteChild.which(hits)
        lines.append(f"hits on {node}: {await hits.call('value')}")  # a fresh child: 0
        # --8<-- [end:moved]
    return lines


async def main(url: str = "nats://127.0.0.1:4222") -> list[str]:
    stop_1, stop_2 = trio.Event(), trio.Event()
    async with trio.open_nursery() as nursery:
        for name, stop in (("worker-1", stop_1), ("worker-2", stop_2)):
            started = trio.Event()
            nursery.start_soon(worker_node, url, name, started, stop)
            await started.wait()
        lines = await boss_node(url, stop_1)
        stop_2.set()
    return lines


if __name__ == "__main__":  # pragma: no cover - by hand, with a nats-server running
    for line in trio.run(main):
        print(line)
