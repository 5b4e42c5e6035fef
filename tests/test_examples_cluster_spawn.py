"""``examples/cluster_spawn.py`` against a real nats-server; the guide shows that code."""

from __future__ import annotations

import re

import trio

from examples import cluster_spawn as example
from noex_trio.nats.testing import NatsServer
from tests.cluster_support import LIMIT
from tests.docs_support import assert_every_region_included


async def test_start_on(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        lines = await example.main(nats_server.url)
    assert len(lines) == 1
    assert re.fullmatch(r"<RemoteRef hits#\d+@workers-1>: 15", lines[0])


def test_guide_includes_every_region() -> None:
    assert_every_region_included("cluster", "cluster_spawn")
