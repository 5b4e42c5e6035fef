"""``examples/cluster_bus.py`` against a real nats-server: the output the cluster guide shows
("A cluster-wide EventBus"); the guide shows only that tested code."""

from __future__ import annotations

import trio

from examples import cluster_bus as example
from noex_trio.nats.testing import NatsServer
from tests.cluster_support import LIMIT
from tests.docs_support import assert_every_region_included


async def test_a_cluster_wide_bus(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        lines = await example.main(nats_server.url)
    assert lines == ["shipped.eu: order 1", "shipped.us: order 2", "sent 2, received 2"]


def test_guide_includes_every_region() -> None:
    assert_every_region_included("cluster", "cluster_bus")
