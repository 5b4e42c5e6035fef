"""The remote node of ``python -m bench.cluster_call``, in an OS process of its own.

``python -m bench._cluster_node URL NAME``: opens a runtime that joins the cluster on the NATS
server at URL as node NAME (``open_runtime(cluster=...)``), starts the bench's `Echo`
GenServer registered as ``echo``, serves ``echo`` on the node too (`Node.serve`: the handler
returns the request's payload); prints ``ready``, then runs until its stdin closes.
"""

from __future__ import annotations

import os
import sys

import trio

from noex_trio import GenServer, cluster, open_runtime

from .scenarios_gen_server import Echo


def config(url: str, name: str) -> cluster.ClusterConfig:
    """The bench's nodes use the default timings and codec."""
    return cluster.ClusterConfig(name=name, servers=url)


def echo(request: cluster.Request) -> object:
    return request.payload


async def run(url: str, name: str) -> None:
    async with open_runtime(cluster=config(url, name)) as rt:
        assert rt.node is not None
        rt.node.serve("echo", echo)
        await GenServer.start(Echo, name="echo")
        print("ready", flush=True)
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        while await stdin.receive_some():  # until the parent closes our stdin
            pass


if __name__ == "__main__":
    trio.run(run, sys.argv[1], sys.argv[2])
