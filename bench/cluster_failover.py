"""``python -m bench.cluster_failover``: how long a supervised child on a killed node takes to
answer again from another node.

A runtime in this process runs a supervisor whose child (`RemoteChild.child_spec`) is placed on
node processes ``p1``/``p2`` (``tests.cluster_runtime_peer``, the default heartbeat 0.2 s and
failure timeout 0.8 s), through a real ``nats-server`` started for the run. Each round kills the
node the child runs on (SIGKILL, at a random moment of its heartbeat cycle) and measures, on the
real clock, from the kill to the first answer of the child restarted on the other node; then a
new process takes the killed node's name again. Prints min, median, p90 and max over
``--kills`` rounds (default 20) and writes them to ``bench/results/cluster_failover.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import trio

from noex_trio import GenServer, Placement, RemoteChild, Restarted, Supervisor, open_runtime
from noex_trio.cluster import ClusterConfig
from noex_trio.nats.testing import open_nats_server
from tests.cluster_support import open_peer, wait_members

from ._harness import machine

RESULTS = Path(__file__).parent / "results" / "cluster_failover.json"


async def measure(kills: int, heartbeat: float, failure: float) -> list[float]:
    times: list[float] = []
    async with open_nats_server() as server:
        config = ClusterConfig(
            name="sup", servers=server.url, heartbeat_interval=heartbeat, failure_timeout=failure
        )
        async with open_runtime(cluster=config) as rt, AsyncExitStack() as peers:
            assert rt.node is not None
            restarted = trio.Event()

            def on_event(event: object) -> None:
                if isinstance(event, Restarted):
                    restarted.set()

            rt.on_lifecycle_event(on_event)
            running: dict[str, Any] = {}
            for name in ("p1", "p2"):
                running[name] = await peers.enter_async_context(
                    open_peer(server.url, name, heartbeat, failure, runtime=True)
                )
            await wait_members(rt.node, "p1", "p2")
            spec = RemoteChild.child_spec("echo", id="worker", placement=Placement(["p1", "p2"]))
            sup = await Supervisor.start([spec], max_restarts=kills + 1, max_seconds=3600)
            for round_ in range(kills):
                _, node = await RemoteChild.which(Supervisor.get_child(sup, "worker").ref)  # type: ignore[arg-type]
                restarted = trio.Event()
                await trio.sleep(random.uniform(0, heartbeat))  # a random heartbeat phase
                running[node].kill()
                killed = trio.current_time()
                await restarted.wait()
                stand_in = Supervisor.get_child(sup, "worker").ref
                await GenServer.call(stand_in, "count")  # type: ignore[arg-type]
                times.append(trio.current_time() - killed)
                _, new_node = await RemoteChild.which(stand_in)  # type: ignore[arg-type]
                print(
                    f"kill {round_ + 1:2}: answering on {new_node} after {times[-1] * 1000:6.1f} ms"
                )
                # the killed node comes back (a new incarnation) for the next round
                running[node] = await peers.enter_async_context(
                    open_peer(server.url, node, heartbeat, failure, runtime=True)
                )
                await wait_members(rt.node, "p1", "p2")
            await Supervisor.stop(sup)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_failover")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--heartbeat", type=float, default=0.2)
    parser.add_argument("--failure", type=float, default=0.8)
    args = parser.parse_args(argv)
    logging.getLogger("noex_trio").setLevel(logging.CRITICAL)  # (the crash reports of each kill)
    times = sorted(trio.run(measure, args.kills, args.heartbeat, args.failure))
    summary = {
        "kills": len(times),
        "heartbeat_interval_s": args.heartbeat,
        "failure_timeout_s": args.failure,
        "min_ms": round(times[0] * 1000, 1),
        "median_ms": round(statistics.median(times) * 1000, 1),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))] * 1000, 1),
        "max_ms": round(times[-1] * 1000, 1),
        "machine": machine(),
    }
    print(
        f"\nkill -> restarted child answering on another node, over {len(times)} kills "
        f"(heartbeat {args.heartbeat} s, failure_timeout {args.failure} s): "
        f"min {summary['min_ms']} ms, median {summary['median_ms']} ms, "
        f"p90 {summary['p90_ms']} ms, max {summary['max_ms']} ms"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
