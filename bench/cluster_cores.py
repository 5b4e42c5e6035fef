"""``python -m bench.cluster_cores``: aggregate throughput of 2 nodes on the 2 cores against 1.

Each run is ``python -m noex_trio.cluster run --nodes N bench._cores_app:main SECONDS``: every
node answers local calls with a CPU-bound handler (32 clients, 4 GenServers) for SECONDS and
reports its count. The figure is the sum of the nodes' calls per second; 1-node and 2-node
runs alternate over ``--rounds`` rounds (default 3). Prints medians and the ratio, and writes
``bench/results/cluster_cores.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

from ._harness import machine

RESULTS = Path(__file__).parent / "results" / "cluster_cores.json"
ROOT = Path(__file__).resolve().parent.parent


def run(nodes: int, seconds: float) -> float:
    command = [
        sys.executable,
        "-m",
        "noex_trio.cluster",
        "run",
        "--nodes",
        str(nodes),
        "bench._cores_app:main",
        str(seconds),
    ]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    found = re.findall(r"^calls \S+ (\d+) ([\d.]+)$", done.stdout, flags=re.MULTILINE)
    rates = [int(count) / float(took) for count, took in found]
    assert len(rates) == nodes, done.stdout + done.stderr
    return sum(rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_cores")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    one: list[float] = []
    two: list[float] = []
    for round_ in range(args.rounds):
        order = ((1, one), (2, two)) if round_ % 2 == 0 else ((2, two), (1, one))
        for nodes, figures in order:
            figures.append(run(nodes, args.seconds))
            print(f"round {round_ + 1}: {nodes} node(s): {figures[-1]:,.0f} calls/s", flush=True)
    ratios = [b / a for a, b in zip(one, two, strict=True)]
    summary = {
        "cores": os.cpu_count(),
        "one_node_calls_per_s": round(statistics.median(one)),
        "two_nodes_calls_per_s": round(statistics.median(two)),
        "ratio": round(statistics.median(ratios), 2),
        "rounds": args.rounds,
        "seconds": args.seconds,
        "machine": machine(),
    }
    one_rate, two_rate = summary["one_node_calls_per_s"], summary["two_nodes_calls_per_s"]
    print(
        f"\naggregate throughput (CPU-bound local calls): 1 node {one_rate:,} calls/s, "
        f"2 nodes {two_rate:,} calls/s: {summary['ratio']}x"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
