"""``examples/cluster_global.py`` against a real nats-server with JetStream; the guide shows
that code."""

from __future__ import annotations

import trio

from examples import cluster_global as example
from noex_trio.nats.testing import NatsServer
from tests.cluster_support import LIMIT
from tests.docs_support import assert_every_region_included


async def test_one_leader(nats_jetstream_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        lines = await example.main(nats_jetstream_server.url)
    assert lines == [
        "n1: started the leader",
        "n1: who leads?: the leader runs on n1",
        "n2: name 'leader' is already registered",
        "n2: who leads?: the leader runs on n1",
    ]


def test_guide_includes_every_region() -> None:
    assert_every_region_included("cluster", "cluster_global")
