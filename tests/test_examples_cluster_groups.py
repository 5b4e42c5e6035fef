"""``examples/cluster_groups.py`` against a real nats-server: the output the cluster guide
shows; the guide shows only that tested code."""

from __future__ import annotations

import re

import trio

from examples import cluster_groups as example
from noex_trio.nats.testing import NatsServer
from tests.cluster_support import LIMIT
from tests.docs_support import assert_every_region_included


async def test_workers_of_two_nodes_in_one_group(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        lines = await example.main(nats_server.url)
    assert lines[:2] == ["4 workers on worker-1, worker-2", "dispatched to 4"]
    assert len(lines) == 6
    for line in lines[2:]:
        assert re.fullmatch(r"thumbnail done on a worker of <GenServerRef Worker#\d+>", line)


def test_guide_includes_every_region() -> None:
    assert_every_region_included("cluster", "cluster_groups")
