"""``examples/cluster_supervision.py`` against a real nats-server; the guide shows that code."""

from __future__ import annotations

import trio

from examples import cluster_supervision as example
from noex_trio.nats.testing import NatsServer
from tests.cluster_support import LIMIT
from tests.docs_support import assert_every_region_included


async def test_the_child_moves(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        lines = await example.main(nats_server.url)
    assert lines == ["hits on worker-1: 3", "hits on worker-2: 0"]


def test_guide_includes_every_region() -> None:
    assert_every_region_included("cluster", "cluster_supervision")
