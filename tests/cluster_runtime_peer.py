"""A runtime joined to a cluster, in a process of its own, for the distribution tests.

``python -m tests.cluster_runtime_peer URL NAME [HEARTBEAT FAILURE]``: opens a runtime as node
NAME (the fast test timings unless given; offering `BEHAVIOURS`) with `Echo` processes named
``echo``, ``echo2`` and ``other`` (``echo`` and ``echo2`` in the process group named by
``$NOEX_PEER_GROUP``, if set; ``other`` registered globally under ``$NOEX_TEST_GLOBAL_NAME``,
if set: its exit is printed as ``exit <reason>``), and a cluster bus ``orders`` that answers
each ``ping.<x>`` with ``pong.<x>``; prints ``ready <incarnation>``, then runs until it is
killed (or its stdin closes).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import trio

from noex_trio import EventBus, GenServer, GlobalRegistry, Groups, Terminated, open_runtime
from tests.cluster_behaviours import BEHAVIOURS, Echo
from tests.cluster_support import config


def _print_exit_of(ref: object) -> Callable[[object], None]:
    """A lifecycle handler printing ``exit <reason>`` when `ref` exits."""

    def handler(event: object) -> None:
        if isinstance(event, Terminated) and event.ref == ref:
            print(f"exit {event.reason!r}", flush=True)

    return handler


async def run(url: str, name: str, timings: list[str]) -> None:
    options: dict[str, float] = {}
    if timings:  # heartbeat interval and failure timeout (the fast test timings otherwise)
        options = {"heartbeat_interval": float(timings[0]), "failure_timeout": float(timings[1])}
    cluster = config(url, name, behaviours=BEHAVIOURS, **options)
    async with open_runtime(name, cluster=cluster) as rt:
        echo = await GenServer.start(Echo, name="echo")
        echo2 = await GenServer.start(Echo, name="echo2")
        group = os.environ.get("NOEX_PEER_GROUP")
        if group:
            Groups.join(group, echo)
            Groups.join(group, echo2)
        other = await GenServer.start(Echo, name="other")
        global_name = os.environ.get("NOEX_TEST_GLOBAL_NAME")
        if global_name:
            await GlobalRegistry.register(global_name, other)
            rt.on_lifecycle_event(_print_exit_of(other))
        bus = await EventBus.start("orders", cluster=True)

        def pong(data: object, topic: str) -> None:
            EventBus.publish(bus, "pong." + topic.split(".", 1)[1], data)

        await EventBus.subscribe(bus, "ping.*", pong)
        assert rt.node is not None
        print(f"ready {rt.node.id.incarnation}", flush=True)
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        while await stdin.receive_some():  # until the parent closes our stdin
            pass


if __name__ == "__main__":  # pragma: no cover - runs in a child process
    trio.run(run, sys.argv[1], sys.argv[2], sys.argv[3:])
