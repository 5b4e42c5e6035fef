"""``python -m bench.cluster_detection``: how long a node takes to see a killed node down.

A watcher node and a real ``nats-server`` (started for the run) in this process; a peer node in
a child process (``tests.cluster_peer``), killed with SIGKILL at a random moment of its
heartbeat cycle. Measured: from the kill to the watcher's ``NodeDown`` ("noconnection"), on
the real clock, over ``--kills`` kills (default 20). Prints min, median, p90 and max beside the
configured bound (``failure_timeout``), and writes them to
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

import trio

from noex_trio import cluster
from noex_trio.nats.testing import open_nats_server
from tests.cluster_support import open_peer

from ._harness import machine

RESULTS = Path(__file__).parent / "results" / "cluster_detection.json"


async def measure(kills: int, heartbeat: float, failure: float) -> list[float]:
    times: list[float] = []
    async with open_nats_server() as server:
        config = cluster.ClusterConfig(
            name="watcher",
            servers=server.url,
            heartbeat_interval=heartbeat,
            failure_timeout=failure,
        )
        async with cluster.join(config) as node, node.watch() as events:
            for round_ in range(kills):
                async with open_peer(server.url, "peer", heartbeat, failure, 0.25) as peer:
                    async for event in events:
                        if isinstance(event, cluster.NodeUp):
                            break
                    await trio.sleep(random.uniform(0, heartbeat))  # a random heartbeat phase
                    peer.kill()
                    killed = trio.current_time()
                    async for event in events:
                        if isinstance(event, cluster.NodeDown):
                            assert event.reason == "noconnection"
                            times.append(trio.current_time() - killed)
                            break
                print(f"kill {round_ + 1:2}: NodeDown after {times[-1] * 1000:6.1f} ms")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_detection")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--heartbeat", type=float, default=0.2)
    parser.add_argument("--failure", type=float, default=0.8)
    args = parser.parse_args(argv)
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
        f"\nNodeDown after SIGKILL over {len(times)} kills "
        f"(heartbeat {args.heartbeat} s, failure_timeout {args.failure} s): "
        f"min {summary['min_ms']} ms, median {summary['median_ms']} ms, "
        f"p90 {summary['p90_ms']} ms, max {summary['max_ms']} ms"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
