"""``examples/cluster_supervision.py`` against a real nats-server; the guide shows that code."""

from __future__ import annotations

import re
from pathlib import Path

import trio

from examples import cluster_supervision as example
from noex_trio.nats.testing import NatsServer
from tests.cluster_support import LIMIT

ROOT = Path(__file__).resolve().parent.parent


async def test_the_child_moves(nats_server: NatsServer) -> None:
    with trio.fail_after(LIMIT):
        lines = await example.main(nats_server.url)
    assert lines == ["hits on worker-1: 3", "hits on worker-2: 0"]


def test_guide_includes_every_region() -> None:
    text = (ROOT / "docs" / "guides" / "cluster.md").read_text("utf-8")
    source = (ROOT / "examples" / "cluster_supervision.py").read_text("utf-8")
    regions = set(re.findall(r"# --8<-- \[start:([\w-]+)\]", source))
    pattern = r"<!-- include: examples/cluster_supervision\.py:([\w-]+) -->"
    assert regions == set(re.findall(pattern, text))
