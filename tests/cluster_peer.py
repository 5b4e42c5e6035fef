"""A cluster node in a process of its own, for the tests and the detection bench.

``python -m tests.cluster_peer URL NAME [HEARTBEAT FAILURE CLAIM [CLUSTER]]``: joins cluster
CLUSTER (default ``default``) on the NATS server at URL as NAME, serves ``echo`` (replies with
the payload), ``pid`` (its process id) and ``hang`` (prints ``hanging``, never answers),
prints ``ready <incarnation>`` on a line of its own, then runs until it is killed (or its
stdin closes).
"""

from __future__ import annotations

import os
import sys

import trio

from noex_trio import cluster


def config(url: str, name: str, options: list[str]) -> cluster.ClusterConfig:
    heartbeat, failure, claim = [float(value) for value in options[:3]] or [0.2, 0.8, 0.25]
    return cluster.ClusterConfig(
        name=name,
        servers=url,
        heartbeat_interval=heartbeat,
        failure_timeout=failure,
        claim_timeout=claim,
        cluster=options[3] if len(options) > 3 else "default",
    )


async def hang(request: cluster.Request) -> None:
    print("hanging", flush=True)  # (the test knows the request arrived)
    await trio.sleep_forever()


async def run(url: str, name: str, timings: list[str]) -> None:
    async with cluster.join(config(url, name, timings)) as node:
        node.serve("echo", lambda request: request.payload)
        node.serve("pid", lambda request: os.getpid())
        node.serve("hang", hang)
        print(f"ready {node.id.incarnation}", flush=True)
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        while await stdin.receive_some():  # until the parent closes our stdin
            pass


if __name__ == "__main__":  # pragma: no cover - runs in a child process
    trio.run(run, sys.argv[1], sys.argv[2], sys.argv[3:])
