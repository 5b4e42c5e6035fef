"""Every core of one machine (docs/guides/cluster.md, "Using every core"): run with
``python -m noex_trio.cluster run --nodes 2 examples.cluster_cores:main``.

Each node process runs `main` with its own configuration. They share the work by name: a key
belongs to the node its hash falls on, and any node reaches a key's owner with a `RemoteName`.
"""

from __future__ import annotations

import os
import zlib

import trio

from noex_trio import GenServer, RemoteName, ServerNotRunningError, open_runtime
from noex_trio.cluster import ClusterConfig


class Store(GenServer[dict[str, int], tuple[str, str], None, int]):
    def init(self) -> dict[str, int]:
        return {}

    def handle_call(self, msg: tuple[str, str], data: dict[str, int]) -> tuple[int, dict[str, int]]:
        _, key = msg  # ("incr", key)
        data[key] = data.get(key, 0) + 1
        return data[key], data


def owner(key: str) -> str:
    nodes = os.environ["NOEX_NODES"].split(",")  # set by `python -m noex_trio.cluster run`
    return nodes[zlib.crc32(key.encode()) % len(nodes)]


# --8<-- [start:app]
async def main(config: ClusterConfig) -> None:
    async with open_runtime(cluster=config):  # this process is one node of the cluster
        await GenServer.start(Store, name="store")
        for key in ("apples", "pears", "plums"):
            target = RemoteName("store", owner(key))  # the node that owns the key
            while True:
                try:
                    count = await GenServer.call(target, ("incr", key))
                    break
                except ServerNotRunningError:  # that node is still starting
                    await trio.sleep(0.05)
            print(f"{config.name}: {key} -> {target.node} ({count})", flush=True)
        await trio.sleep_forever()  # serve the others until stopped (Ctrl-C, SIGTERM)
        # --8<-- [end:app]
