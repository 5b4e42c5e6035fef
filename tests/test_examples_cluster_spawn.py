"""``examples/cluster_spawn.py`` against a real nats-server; the guide shows that code."""

from __future__ import annotations

import re
from pathlib import Path

import trio

from examples import cluster_spawn as example
from noex_trio.nats.testing import NatsServer
from tests.cluster_support import LIMIT

ROOT = Path(__file__).resolve().parent.parent


async def test_start_on(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        lines = await example.main(nats_server.url)
    assert len(lines) == 1
    assert re.fullmatch(r"<RemoteRef hits#\d+@workers-1>: 15", lines[0])


def test_guide_includes_every_region() -> None:
    text = (ROOT / "docs" / "guides" / "cluster.md").read_text("utf-8")
    source = (ROOT / "examples" / "cluster_spawn.py").read_text("utf-8")
    regions = set(re.findall(r"# --8<-- \[start:([\w-]+)\]", source))
    included = set(re.findall(r"<!-- include: examples/cluster_spawn\.py:([\w-]+) -->", text))
    assert regions == included
