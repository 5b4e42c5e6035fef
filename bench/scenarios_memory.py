"""Memory per idle process, and 100 000 processes under one simple_one_for_one supervisor.

- Idle memory is measured with `tracemalloc` (Python allocations traced while N processes are
  started, divided by N). Baseline: N bare tasks started with ``nursery.start``, each owning an
  unbounded memory channel pair and waiting on ``receive`` (the smallest honest "actor").
- The 100 000-process figures come from fresh interpreters (``python -m bench._many``), so that
  the resident-memory growth is not blurred by earlier scenarios. Baseline: the same number of
  bare tasks + channels; they are stopped by closing every channel.
- ``1m`` (opt-in: not part of the default run, ``--only 1m``): 1 000 000 idle GenServers under
  one DynamicSupervisor against 1 000 000 bare tasks + channels, each side once, in fresh
  interpreters as above. It takes several minutes and about 13 GiB of memory in all (one side
  at a time: about 7 GiB, then 6 GiB).
"""

from __future__ import annotations

import gc
import json
import math
import subprocess
import sys
import tracemalloc
from typing import Any

import trio

from noex_trio import GenServer, GenServerRef, open_runtime

from ._harness import Row, Settings, Target
from .scenarios_gen_server import Echo


async def _idle(task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
    send, recv = trio.open_memory_channel[Any](math.inf)
    task_status.started(send)
    async for _ in recv:
        pass


async def _noex_bytes(n: int) -> float:
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    refs: list[GenServerRef[int, int, int]] = [await GenServer.start(Echo) for _ in range(n)]
    gc.collect()
    per_process = (tracemalloc.get_traced_memory()[0] - before) / n
    for ref in reversed(refs):
        await ref.stop()
    return per_process


async def _bare_bytes(n: int) -> float:
    async with trio.open_nursery() as nursery:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        sends = [await nursery.start(_idle) for _ in range(n)]
        gc.collect()
        per_task = (tracemalloc.get_traced_memory()[0] - before) / n
        for send in sends:
            send.close()
    return per_task


async def idle_memory(settings: Settings) -> list[Row]:
    """Scenario 8a: bytes per idle GenServer vs a bare task + memory channel."""
    n = settings.n(5_000, 2_000)
    row = Row(
        "memory",
        "per idle GenServer (tracemalloc)",
        "bytes",
        baseline="a task started with nursery.start waiting on its own memory channel",
        kind="cost",
        target=Target("<=", 1.5),
    )
    tracemalloc.start()
    try:
        async with open_runtime():
            await _noex_bytes(100)
            await _bare_bytes(100)
            for r in range(settings.rounds):
                if r % 2:
                    bare = await _bare_bytes(n)
                    nx = await _noex_bytes(n)
                else:
                    nx = await _noex_bytes(n)
                    bare = await _bare_bytes(n)
                row.add(nx, bare)
    finally:
        tracemalloc.stop()
    return [row]


def _run_many(kind: str, n: int) -> dict[str, float]:
    """Run ``python -m bench._many kind n`` and return what it printed."""
    out = subprocess.run(
        [sys.executable, "-m", "bench._many", kind, str(n)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


async def many_processes(settings: Settings) -> list[Row]:
    """Scenario 8b: 100 000 GenServers under one simple_one_for_one supervisor."""
    n = settings.n(100_000, 20_000)
    rounds = min(settings.rounds, 3)
    start = Row(
        "100k",
        f"start {n:,} children (start_child)",
        "s",
        baseline=f"nursery.start of {n:,} tasks + channels",
        target=Target("<=", 15.0, absolute=True) if n == 100_000 else None,
        kind="cost",
    )
    memory = Row(
        "100k",
        f"resident memory of {n:,} processes",
        "MiB",
        baseline=f"{n:,} bare tasks + channels",
        kind="cost",
        target=Target("<=", 1024.0, absolute=True) if n == 100_000 else None,
        note="growth of resident memory in a fresh interpreter",
    )
    stop = Row(
        "100k",
        f"stop the supervisor of {n:,}",
        "s",
        baseline="close every channel, wait for the nursery",
        kind="cost",
    )
    for r in range(rounds):
        order = ("bare", "noex") if r % 2 else ("noex", "bare")
        results = {}
        for kind in order:
            results[kind] = await trio.to_thread.run_sync(_run_many, kind, n)
        nx, bare = results["noex"], results["bare"]
        start.add(nx["start_s"], bare["start_s"])
        memory.add(nx["memory_bytes"] / 2**20, bare["memory_bytes"] / 2**20)
        stop.add(nx["stop_s"], bare["stop_s"])
    return [start, memory, stop]


async def million_processes(settings: Settings) -> list[Row]:
    """Opt-in: 1 000 000 idle GenServers under one DynamicSupervisor, each side run once (the
    issue 17 target: fit in 8 GiB resident, start in at most 2x the bare tasks' time)."""
    n = settings.n(1_000_000, 100_000)
    full = n == 1_000_000
    start = Row(
        "1m",
        f"start {n:,} children (DynamicSupervisor.start_child)",
        "s",
        baseline=f"nursery.start of {n:,} tasks + channels",
        kind="cost",
        target=Target("<=", 2.0) if full else None,
    )
    memory = Row(
        "1m",
        f"resident memory of {n:,} processes",
        "MiB",
        baseline=f"{n:,} bare tasks + channels",
        kind="cost",
        target=Target("<=", 8192.0, absolute=True) if full else None,
        note="growth of resident memory in a fresh interpreter; each side run once",
    )
    stop = Row(
        "1m",
        f"stop the DynamicSupervisor of {n:,}",
        "s",
        baseline="close every channel, wait for the nursery",
        kind="cost",
    )
    nx = await trio.to_thread.run_sync(_run_many, "dynamic", n)
    bare = await trio.to_thread.run_sync(_run_many, "bare", n)
    start.add(nx["start_s"], bare["start_s"])
    memory.add(nx["memory_bytes"] / 2**20, bare["memory_bytes"] / 2**20)
    stop.add(nx["stop_s"], bare["stop_s"])
    return [start, memory, stop]


SCENARIOS: dict[str, Any] = {
    "memory": idle_memory,
    "100k": many_processes,
    "1m": million_processes,
}

#: Scenarios run only when named with ``--only`` (too long or too large for every run).
OPT_IN = frozenset({"1m"})
