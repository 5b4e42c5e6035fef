"""The remote node of ``python -m bench.cluster_call``, in an OS process of its own.

``python -m bench._cluster_node URL NAME``: joins the cluster on the NATS server at URL as node
NAME and serves ``echo`` (`Node.serve`: the handler returns the request's payload); prints
``ready``, then runs until its stdin closes.
"""

from __future__ import annotations

import os
import sys

import trio

from noex_trio import cluster


def config(url: str, name: str) -> cluster.ClusterConfig:
    """The bench's nodes use the default timings and codec."""
    return cluster.ClusterConfig(name=name, servers=url)


def echo(request: cluster.Request) -> object:
    return request.payload


async def run(url: str, name: str) -> None:
    async with cluster.join(config(url, name)) as node:
        node.serve("echo", echo)
        print("ready", flush=True)
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        while await stdin.receive_some():  # until the parent closes our stdin
            pass


if __name__ == "__main__":
    trio.run(run, sys.argv[1], sys.argv[2])
