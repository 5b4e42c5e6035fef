"""``examples/cluster_processes.py`` against a real nats-server: the output the cluster guide
shows; the guide shows only that tested code."""

from __future__ import annotations

import re

import trio

from examples import cluster_processes as example
from noex_trio.nats.testing import NatsServer
from tests.cluster_support import LIMIT
from tests.docs_support import assert_every_region_included


async def test_processes_across_nodes(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        lines = await example.main(nats_server.url)
    assert lines[0] == "took an apple, 1 left"
    assert re.fullmatch(r"<RemoteRef inventory#\d+@inventory-1> on inventory-1", lines[1])
    # (the Down and the caller's error come from different tasks: either may be first)
    error, down = sorted(lines[2:], key=lambda line: line.startswith("Down"))
    assert error == "LookupError: no pear left"
    assert re.fullmatch(r"Down <RemoteRef inventory#\d+@inventory-1>: no pear left", down)
    assert len(lines) == 4


def test_guide_includes_every_region() -> None:
    assert_every_region_included("cluster", "cluster_processes")
