"""Process groups across nodes (docs/guides/cluster.md, "Process groups").

Two runtimes joined to one cluster each start `Worker` processes that join the group
``("jobs", "resize")``; a third node, ``frontend-1``, waits until it sees all of them and
hands every worker a job with ``Groups.dispatch``. Run it with a ``nats-server`` on
127.0.0.1:4222: ``python -m examples.cluster_groups``.
"""

from __future__ import annotations

from typing import Any

import trio

from noex_trio import GenServer, GroupChange, Groups, RemoteRef, open_runtime
from noex_trio.cluster import ClusterConfig

GROUP = ("jobs", "resize")


# --8<-- [start:worker]
class Worker(GenServer[list[str], Any, Any, Any]):
    """Joins the group when it starts; leaves it by itself when it exits."""

    def init(self, done: trio.MemorySendChannel[str]) -> list[str]:
        self.done = done
        Groups.join(GROUP)  # the calling process; it may join several groups
        return []

    def handle_cast(self, job: str, state: list[str]) -> list[str]:
        self.done.send_nowait(f"{job} done on a worker of {GenServer.self()!r}")
        return state


async def worker_node(url: str, name: str, done: Any, ready: trio.Event, stop: trio.Event) -> None:
    async with open_runtime(cluster=ClusterConfig(name=name, servers=url)):
        for _ in range(2):
            await GenServer.start(Worker, done)
        ready.set()
        await stop.wait()
        # --8<-- [end:worker]


# --8<-- [start:frontend]
class Frontend(GenServer[int, Any, Any, Any]):
    """Watches the group (OTP's ``pg:monitor``): told of every join and leave."""

    def init(self, wanted: int, seen_all: trio.Event) -> int:
        self.wanted, self.seen_all = wanted, seen_all
        members = Groups.monitor(GROUP)  # the members now, then a GroupChange per change
        return self.check(len(members))

    def handle_info(self, change: GroupChange, count: int) -> int:
        return self.check(count + len(change.joined) - len(change.left))

    def check(self, count: int) -> int:
        if count >= self.wanted:
            self.seen_all.set()
        return count


async def frontend_node(url: str, lines: list[str]) -> None:
    async with open_runtime(cluster=ClusterConfig(name="frontend-1", servers=url)):
        seen_all = trio.Event()
        await GenServer.start(Frontend, 4, seen_all)
        await seen_all.wait()  # membership is eventually consistent: wait to see them all
        members = Groups.members(GROUP)  # RemoteRefs here: the workers are elsewhere
        nodes = sorted({ref.node.name for ref in members if isinstance(ref, RemoteRef)})
        lines.append(f"{len(members)} workers on {', '.join(nodes)}")
        sent = Groups.dispatch(GROUP, "thumbnail")  # a cast to every member
        lines.append(f"dispatched to {sent}")
        # --8<-- [end:frontend]


async def main(url: str = "nats://127.0.0.1:4222") -> list[str]:
    lines: list[str] = []
    done_in, done = trio.open_memory_channel[str](16)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        for name in ("worker-1", "worker-2"):
            ready = trio.Event()
            nursery.start_soon(worker_node, url, name, done_in, ready, stop)
            await ready.wait()
        await frontend_node(url, lines)
        lines += [await done.receive() for _ in range(4)]
        stop.set()
    return lines


if __name__ == "__main__":  # pragma: no cover - by hand, with a nats-server running
    for line in trio.run(main):
        print(line)
