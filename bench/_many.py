"""Worker for the 100 000- and 1 000 000-process scenarios, run in a fresh interpreter so that
its resident memory is not blurred by earlier scenarios:
``python -m bench._many {noex,dynamic,bare} N``.

``noex``: N ``Supervisor.start_child`` under one ``simple_one_for_one`` supervisor (``100k``);
``dynamic``: N ``DynamicSupervisor.start_child(sup, Echo)`` under one DynamicSupervisor
(``1m``); ``bare``: N tasks started with ``nursery.start``, each with its own memory channel.

Prints one JSON object: seconds to start, resident-memory growth in bytes, seconds to stop.
"""

from __future__ import annotations

import gc
import json
import math
import os
import sys
import time
from functools import partial
from typing import Any

import trio

from noex_trio import ChildSpec, DynamicSupervisor, GenServer, Supervisor, open_runtime

from .scenarios_gen_server import Echo


def rss() -> int:
    """Resident set size of this process, in bytes."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def noex(n: int) -> dict[str, float]:
    async with open_runtime():
        sup = await Supervisor.start(
            strategy="simple_one_for_one",
            child_template=ChildSpec("worker", partial(GenServer.start, Echo)),
        )
        gc.collect()
        before = rss()
        t0 = time.perf_counter()
        for _ in range(n):
            await Supervisor.start_child(sup)
        started = time.perf_counter() - t0
        gc.collect()
        memory = rss() - before
        count = Supervisor.count_children(sup)
        assert count == n, f"expected {n} children, got {count}"
        t0 = time.perf_counter()
        await Supervisor.stop(sup)
        stopped = time.perf_counter() - t0
    return {"start_s": started, "memory_bytes": memory, "stop_s": stopped}


async def dynamic(n: int) -> dict[str, float]:
    async with open_runtime():
        sup = await DynamicSupervisor.start()
        spec = Echo.child_spec()  # one spec for all, as a pool would keep it
        gc.collect()
        before = rss()
        t0 = time.perf_counter()
        for _ in range(n):
            await DynamicSupervisor.start_child(sup, spec)
        started = time.perf_counter() - t0
        gc.collect()
        memory = rss() - before
        count = DynamicSupervisor.count_children(sup).active
        assert count == n, f"expected {n} children, got {count}"
        t0 = time.perf_counter()
        await DynamicSupervisor.stop(sup)
        stopped = time.perf_counter() - t0
    return {"start_s": started, "memory_bytes": memory, "stop_s": stopped}


async def _idle(task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
    send, recv = trio.open_memory_channel[Any](math.inf)
    task_status.started(send)
    async for _ in recv:
        pass


async def bare(n: int) -> dict[str, float]:
    sends = []
    async with trio.open_nursery() as nursery:
        gc.collect()
        before = rss()
        t0 = time.perf_counter()
        sends.extend([await nursery.start(_idle) for _ in range(n)])
        started = time.perf_counter() - t0
        gc.collect()
        memory = rss() - before
        t0 = time.perf_counter()
        for send in reversed(sends):
            send.close()
    stopped = time.perf_counter() - t0
    return {"start_s": started, "memory_bytes": memory, "stop_s": stopped}


def main() -> None:
    kind, n = sys.argv[1], int(sys.argv[2])
    result = trio.run({"noex": noex, "dynamic": dynamic, "bare": bare}[kind], n)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
