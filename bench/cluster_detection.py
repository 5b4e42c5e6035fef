"""``python -m bench.cluster_detection``: how long a node takes to see a killed node down.

A watcher runtime joined to a real ``nats-server`` (started for the run) in this process; a
peer runtime in a child process (``tests.cluster_runtime_peer``) whose ``echo`` process a
process of the watcher monitors, killed with SIGKILL at a random moment of its heartbeat
cycle. Measured on the real clock, over ``--kills`` kills (default 20): from the kill to the
watcher node's ``NodeDown`` ("noconnection"), and to the ``Down(..., "noconnection")`` in the
monitoring process's ``handle_info`` (what an application sees). Prints min, median, p90 and
max beside the configured bound (``failure_timeout``), and writes them to
``bench/results/cluster_detection.json``.

Options: ``--kills N``, ``--heartbeat S`` (default 0.2), ``--failure S`` (default 0.8).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path
from typing import Any

import trio

from noex_trio import Down, GenServer, RemoteName, cluster, open_runtime
from noex_trio.nats.testing import open_nats_server
from tests.cluster_support import open_peer

from ._harness import machine

RESULTS = Path(__file__).parent / "results" / "cluster_detection.json"


class Monitor(GenServer[trio.Event, Any, Any, Any]):
    """Monitors a process of the peer; sets the event on its `Down`."""

    def init(self, target: Any, down: trio.Event) -> trio.Event:
        GenServer.monitor(target)
        return down

    def handle_info(self, msg: Any, down: trio.Event) -> trio.Event:
        assert isinstance(msg, Down)
        assert msg.reason == "noconnection"
        down.set()
        return down


async def measure(kills: int, heartbeat: float, failure: float) -> list[tuple[float, float]]:
    times: list[tuple[float, float]] = []
    async with open_nats_server() as server:
        config = cluster.ClusterConfig(
            name="watcher",
            servers=server.url,
            heartbeat_interval=heartbeat,
            failure_timeout=failure,
        )
        async with open_runtime(cluster=config) as rt:
            assert rt.node is not None
            async with rt.node.watch() as events:
                for round_ in range(kills):
                    async with open_peer(
                        server.url, "peer", heartbeat, failure, runtime=True
                    ) as peer:
                        async for event in events:
                            if isinstance(event, cluster.NodeUp):
                                break
                        echo = await GenServer.call(RemoteName("echo", "peer"), "self")
                        down = trio.Event()
                        await GenServer.start(Monitor, echo, down)
                        await trio.sleep(random.uniform(0, heartbeat))  # a random heartbeat phase
                        peer.kill()
                        killed = trio.current_time()
                        async for event in events:
                            if isinstance(event, cluster.NodeDown):
                                assert event.reason == "noconnection"
                                node_down = trio.current_time() - killed
                                break
                        await down.wait()
                        times.append((node_down, trio.current_time() - killed))
                    print(
                        f"kill {round_ + 1:2}: NodeDown after {times[-1][0] * 1000:6.1f} ms, "
                        f"Down in the monitoring process after {times[-1][1] * 1000:6.1f} ms"
                    )
    return times


def _summary(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {
        "min_ms": round(times[0] * 1000, 1),
        "median_ms": round(statistics.median(times) * 1000, 1),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))] * 1000, 1),
        "max_ms": round(times[-1] * 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_detection")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--heartbeat", type=float, default=0.2)
    parser.add_argument("--failure", type=float, default=0.8)
    args = parser.parse_args(argv)
    times = trio.run(measure, args.kills, args.heartbeat, args.failure)
    summary: dict[str, Any] = {
        "kills": len(times),
        "heartbeat_interval_s": args.heartbeat,
        "failure_timeout_s": args.failure,
        "node_down": _summary([node for node, _ in times]),
        "monitor_down": _summary([down for _, down in times]),
        "machine": machine(),
    }
    timings = f"heartbeat {args.heartbeat} s, failure_timeout {args.failure} s"
    print(f"\nover {len(times)} kills ({timings}):")
    for key, what in (("node_down", "NodeDown"), ("monitor_down", "Down in a monitoring process")):
        figures = summary[key]
        print(
            f"  {what}: min {figures['min_ms']} ms, median {figures['median_ms']} ms, "
            f"p90 {figures['p90_ms']} ms, max {figures['max_ms']} ms"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
