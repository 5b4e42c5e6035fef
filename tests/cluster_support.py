"""Helpers for the cluster tests: fast timings, events awaited with a bound, a node in a
separate OS process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import trio

from noex_trio import cluster

#: Every test against a real server runs within this (real time): nothing hangs.
LIMIT = 10.0

#: Timings for tests: detection within 0.5 s, claims settled in 0.1 s.
FAST: dict[str, Any] = {"heartbeat_interval": 0.1, "failure_timeout": 0.5, "claim_timeout": 0.1}

E = TypeVar("E", cluster.NodeUp, cluster.NodeDown)


def config(url: str, name: str, **options: Any) -> cluster.ClusterConfig:
    return cluster.ClusterConfig(name=name, servers=url, **{**FAST, **options})


async def next_event(events: cluster.NodeEvents, kind: type[E], name: str | None = None) -> E:
    """The next event of `kind` (about node `name`, if given); others are skipped."""
    with trio.fail_after(LIMIT):
        async for event in events:
            if isinstance(event, kind) and (name is None or event.node.name == name):
                return event
    raise AssertionError(f"the feed ended before a {kind.__name__}")


async def wait_members(node: cluster.Node, *names: str) -> None:
    """Wait until `node` sees exactly `names` up."""
    async with node.watch() as events:
        with trio.fail_after(LIMIT):
            while {member.name for member in node.members()} != set(names):
                await events.receive()


class Peer:
    """A node running in a child process (``tests.cluster_peer``)."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.incarnation = 0
        self._buffer = b""

    async def read_line(self) -> str:
        """The next line the peer printed."""
        stdout = self.process.stdout
        assert stdout is not None
        with trio.fail_after(LIMIT * 2):
            while b"\n" not in self._buffer:
                chunk = await stdout.receive_some(256)
                if not chunk:
                    raise AssertionError("the peer exited")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: the node says no goodbye


@asynccontextmanager
async def open_peer(
    url: str,
    name: str,
    *timings: float,
    cluster_name: str = "default",
    runtime: bool = False,
    global_name: str | None = None,
) -> AsyncIterator[Peer]:
    """Start ``tests.cluster_peer`` as node `name` (timings: heartbeat, failure, claim);
    wait until it has joined. With `runtime`: ``tests.cluster_runtime_peer`` instead, a
    runtime in the cluster with an ``Echo`` named ``echo`` (fast timings)."""
    options = [*map(str, timings or (0.2, 0.8, 0.25)), cluster_name]
    if runtime:
        args = [sys.executable, "-m", "tests.cluster_runtime_peer", url, name]
        args += [str(value) for value in timings[:2]]
    else:
        args = [sys.executable, "-m", "tests.cluster_peer", url, name, *options]
    env = dict(os.environ)
    if global_name is not None:  # (a runtime peer registers its echo under it, globally)
        env["NOEX_TEST_GLOBAL_NAME"] = global_name
    process = await trio.lowlevel.open_process(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    try:
        peer = Peer(process)
        word, incarnation = (await peer.read_line()).split()
        assert word == "ready"
        peer.incarnation = int(incarnation)
        yield peer
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
            await process.wait()


class Tally:
    """Outcomes counted as they happen; `reach` waits for a count (no polling)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._changed = trio.Event()

    def add(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1
        self._changed.set()
        self._changed = trio.Event()

    async def reach(self, key: str, count: int) -> None:
        while self.counts.get(key, 0) < count:
            await self._changed.wait()
