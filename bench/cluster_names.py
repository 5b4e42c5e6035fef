"""``python -m bench.cluster_names``: the rate of global-name registrations.

A runtime in a cluster on a real ``nats-server`` with JetStream (started for the run)
registers ``--names`` names (default 1 000) for one process with `GlobalRegistry.register`,
first one after the other, then from 20 concurrent tasks; and looks them up. Each register is
a compare-and-set create in the names bucket (one JetStream round trip, the lease included).
Writes ``bench/results/cluster_names.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import trio

from noex_trio import GenServer, GlobalRegistry, open_runtime
from noex_trio.cluster import ClusterConfig
from noex_trio.nats.testing import open_nats_server

from ._harness import machine
from .scenarios_gen_server import Echo

RESULTS = Path(__file__).parent / "results" / "cluster_names.json"


async def measure(count: int) -> dict[str, float]:
    async with (
        open_nats_server(jetstream=True) as server,
        open_runtime(cluster=ClusterConfig(name="a", servers=server.url)),
    ):
        owner = await GenServer.start(Echo)
        await GlobalRegistry.register("warm-up", owner)
        start = time.perf_counter()
        for index in range(count):
            await GlobalRegistry.register(f"seq-{index}", owner)
        sequential = count / (time.perf_counter() - start)

        async def register(names: range) -> None:
            for index in names:
                await GlobalRegistry.register(f"par-{index}", owner)

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for worker in range(20):
                nursery.start_soon(register, range(worker, count, 20))
        concurrent = count / (time.perf_counter() - start)
        start = time.perf_counter()
        for index in range(count):
            assert await GlobalRegistry.whereis(f"seq-{index}") == owner
        lookups = count / (time.perf_counter() - start)
    return {
        "register_sequential_per_s": round(sequential),
        "register_20_concurrent_per_s": round(concurrent),
        "whereis_per_s": round(lookups),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_names")
    parser.add_argument("--names", type=int, default=1000)
    args = parser.parse_args(argv)
    figures = trio.run(measure, args.names)
    print(
        f"global names ({args.names}): register {figures['register_sequential_per_s']:,}/s one "
        f"after the other, {figures['register_20_concurrent_per_s']:,}/s from 20 tasks; "
        f"whereis {figures['whereis_per_s']:,}/s"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({**figures, "names": args.names, "machine": machine()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
