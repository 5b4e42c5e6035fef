"""A node of ``python -m bench.cluster_cores``: local calls with a CPU-bound handler for a
while, then prints how many were answered (``calls <node> <count> <seconds>``)."""

from __future__ import annotations

import sys
import time

import trio

from noex_trio import GenServer, GenServerRef, open_runtime
from noex_trio.cluster import ClusterConfig


class Worker(GenServer[int, int, None, int]):
    def init(self) -> int:
        return 0

    def handle_call(self, msg: int, state: int) -> tuple[int, int]:
        total = 0
        for i in range(msg):  # ~ CPU work per request
            total += i * i
        return total, state + 1


async def main(config: ClusterConfig, seconds: str, work: str = "2000") -> None:
    duration, size = float(seconds), int(work)
    async with open_runtime(cluster=config):
        workers = [await GenServer.start(Worker) for _ in range(4)]
        count = 0
        deadline = time.perf_counter() + duration

        async def client(worker: GenServerRef[int, None, int]) -> None:
            nonlocal count
            while time.perf_counter() < deadline:
                await GenServer.call(worker, size)
                count += 1

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for index in range(32):
                nursery.start_soon(client, workers[index % len(workers)])
        line = f"calls {config.name} {count} {time.perf_counter() - start:.3f}\n"
        sys.stdout.write(line)  # (one write: the nodes share the command's stdout)
        sys.stdout.flush()
