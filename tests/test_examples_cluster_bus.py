"""``examples/cluster_bus.py`` against a real nats-server: the output the cluster guide shows
("A cluster-wide EventBus"); the guide shows only that tested code."""

from __future__ import annotations

import re
from pathlib import Path

import trio

from examples import cluster_bus as example
from noex_trio.nats.testing import NatsServer
from tests.cluster_support import LIMIT

ROOT = Path(__file__).resolve().parent.parent


async def test_a_cluster_wide_bus(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        lines = await example.main(nats_server.url)
    assert lines == ["shipped.eu: order 1", "shipped.us: order 2", "sent 2, received 2"]


def test_guide_includes_every_region() -> None:
    text = (ROOT / "docs" / "guides" / "cluster.md").read_text("utf-8")
    source = (ROOT / "examples" / "cluster_bus.py").read_text("utf-8")
    regions = set(re.findall(r"# --8<-- \[start:([\w-]+)\]", source))
    included = set(re.findall(r"<!-- include: examples/cluster_bus\.py:([\w-]+) -->", text))
    assert regions == included
